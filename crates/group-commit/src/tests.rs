use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

type Gc = Arc<GroupCommit<char, u32, u32>>;
/// The groups a commit function was given, in order.
type Groups<G> = Arc<Mutex<Vec<G>>>;

/// A commit that records each group and answers each write with twice its value.
fn doubling(groups: Groups<(char, Vec<u32>)>) -> Gc {
    GroupCommit::new(move |key: &char, writes: Vec<u32>| {
        groups.lock().unwrap().push((*key, writes.clone()));
        writes.into_iter().map(|w| w * 2).collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_committed_and_answered() {
    let groups = Arc::default();
    let gc = doubling(Arc::clone(&groups));
    assert_eq!(gc.submit('a', 21).await, Ok(42));
    assert_eq!(*groups.lock().unwrap(), vec![('a', vec![21])]);
    // The leader stepped down: the next write starts a new one.
    assert_eq!(gc.submit('a', 1).await, Ok(2));
}

/// Holds the first group of key `'a'` until released, so later writes queue behind it.
struct Gate {
    entered: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

fn gated() -> (Gc, Gate, Groups<Vec<u32>>) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let (entered_tx, release_rx) = (Mutex::new(entered_tx), Mutex::new(release_rx));
    let groups: Groups<Vec<u32>> = Arc::default();
    let seen = Arc::clone(&groups);
    let gc = GroupCommit::new(move |key: &char, writes: Vec<u32>| {
        if *key == 'a' && seen.lock().unwrap().is_empty() {
            entered_tx.lock().unwrap().send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
        }
        seen.lock().unwrap().push(writes.clone());
        writes
    });
    (gc, Gate { entered, release }, groups)
}

/// Waits (off the async workers) until the gated first group is inside its commit.
async fn entered(gate: Gate) -> Gate {
    tokio::task::spawn_blocking(move || gate.entered.recv().map(|()| gate))
        .await
        .unwrap()
        .unwrap()
}

fn submit(gc: &Gc, key: char, write: u32) -> tokio::task::JoinHandle<Result<u32, Dropped>> {
    let gc = Arc::clone(gc);
    tokio::spawn(async move { gc.submit(key, write).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_queued_behind_a_commit_go_together_in_the_next_group() {
    let (gc, gate, groups) = gated();
    let first = submit(&gc, 'a', 1);
    let gate = entered(gate).await;
    let later: Vec<_> = (2..5).map(|w| submit(&gc, 'a', w)).collect();
    while gc.lock().get(&'a').map_or(0, Vec::len) < 3 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    gate.release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Ok(1));
    for (w, h) in (2..5).zip(later) {
        assert_eq!(h.await.unwrap(), Ok(w));
    }
    // The three writes queued in whatever order their tasks ran.
    let mut groups = groups.lock().unwrap().clone();
    groups[1].sort_unstable();
    assert_eq!(groups, vec![vec![1], vec![2, 3, 4]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_key_is_not_held_up_by_a_running_group() {
    let (gc, gate, groups) = gated();
    let first = submit(&gc, 'a', 1);
    let gate = entered(gate).await;
    // Key 'a' is inside its commit; key 'b' commits meanwhile.
    assert_eq!(gc.submit('b', 7).await, Ok(7));
    assert_eq!(*groups.lock().unwrap(), vec![vec![7]]);
    gate.release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Ok(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_group_at_a_time_per_key() {
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let gc = GroupCommit::new({
        let (running, most) = (Arc::clone(&running), Arc::clone(&most));
        move |_: &char, writes: Vec<u32>| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
            writes
        }
    });
    let handles: Vec<_> = (0..40).map(|w| submit(&gc, 'a', w)).collect();
    for (w, h) in (0..40).zip(handles) {
        assert_eq!(h.await.unwrap(), Ok(w));
    }
    assert_eq!(most.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_left_unanswered_is_dropped() {
    let gc: Gc = GroupCommit::new(|_: &char, _: Vec<u32>| Vec::new());
    assert_eq!(gc.submit('a', 1).await, Err(Dropped));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_commit_drops_its_group_and_the_next_write_is_served() {
    let gc: Gc = GroupCommit::new(|_: &char, writes: Vec<u32>| {
        if writes.contains(&13) {
            panic!("commit failed");
        }
        writes
    });
    assert_eq!(gc.submit('a', 13).await, Err(Dropped));
    assert_eq!(gc.submit('a', 5).await, Ok(5));
}

/// A transaction over `writes` that fails when any of them is odd, counting its runs.
fn all_even(runs: &mut Vec<Vec<u32>>, writes: &[u32]) -> Result<Vec<u32>, String> {
    runs.push(writes.to_vec());
    match writes.iter().find(|w| *w % 2 == 1) {
        Some(odd) => Err(format!("odd {odd}")),
        None => Ok(writes.to_vec()),
    }
}

#[test]
fn a_group_that_commits_answers_every_write_from_one_run() {
    let mut runs = Vec::new();
    let answers = together_or_alone(&mut runs, &[2, 4], all_even, || "none".to_owned());
    assert_eq!(answers, [Ok(2), Ok(4)]);
    assert_eq!(runs, [vec![2, 4]]);
}

#[test]
fn a_failing_write_fails_alone_and_the_others_commit() {
    let mut runs = Vec::new();
    let answers = together_or_alone(&mut runs, &[2, 3, 4], all_even, || "none".to_owned());
    assert_eq!(answers, [Ok(2), Err("odd 3".to_owned()), Ok(4)]);
    assert_eq!(runs, [vec![2, 3, 4], vec![2], vec![3], vec![4]]);
}

#[test]
fn a_lone_failing_write_is_not_run_twice() {
    let mut runs = Vec::new();
    let answers = together_or_alone(&mut runs, &[3], all_even, || "none".to_owned());
    assert_eq!(answers, [Err("odd 3".to_owned())]);
    assert_eq!(runs, [vec![3]]);
}

#[test]
fn a_write_run_alone_without_an_answer_gets_the_unanswered_error() {
    let mut runs = 0;
    let answers = together_or_alone(
        &mut runs,
        &[1, 2],
        |runs: &mut i32, writes: &[u32]| {
            *runs += 1;
            if writes.len() > 1 {
                Err("group failed".to_owned())
            } else {
                Ok(Vec::<u32>::new())
            }
        },
        || "none".to_owned(),
    );
    assert_eq!(answers, [Err("none".to_owned()), Err("none".to_owned())]);
    assert_eq!(runs, 3);
}
