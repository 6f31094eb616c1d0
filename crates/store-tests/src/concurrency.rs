//! Concurrent pushes and pulls of one tenant: sequence numbers are commit-ordered and
//! gap-free, so a reader following the head never skips an event.

use crate::fixtures::{batch, create_tenant, event_with, pull_all};
use domain::apply::fold;
use domain::cursor::Seq;
use domain::event::Event;
use domain::ports::Stores;
use domain::tenant::TenantId;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

const PUSHERS: u64 = 8;
const BATCHES: u64 = 5;
const PER_BATCH: u64 = 100;
const PULLERS: usize = 4;
const TOTAL: i64 = (PUSHERS * BATCHES * PER_BATCH) as i64;

/// xorshift64*: a small deterministic generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Timestamps in random order, many equal (1,000 ms) and many older than everything.
fn random_ms(rng: &mut Rng) -> i64 {
    let ms = match rng.below(4) {
        0 => 1_000,
        1 => rng.below(100),
        _ => 1_000 + rng.below(1_000_000),
    };
    i64::try_from(ms).unwrap_or(0)
}

fn pusher_batch(pusher: u64, round: u64, rng: &mut Rng) -> Vec<Event> {
    (0..PER_BATCH)
        .map(|i| {
            let entity = format!("ent{}", rng.below(40));
            let kind = if rng.below(3) == 0 {
                "create-individual"
            } else {
                "update-individual"
            };
            event_with(
                &format!("w{pusher}-b{round}-e{i}"),
                &entity,
                kind,
                json!({"v": rng.below(1_000), "by": pusher}),
                random_ms(rng),
            )
        })
        .collect()
}

/// Follows the tenant from seq 0 until it has seen `TOTAL` events, asserting every page
/// continues exactly at `last + 1`; returns the guids seen, in order.
async fn follow(stores: Stores, t: TenantId) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = Seq(0);
    while after.0 < TOTAL {
        let page = stores
            .events
            .pull(&t, after, 500, usize::MAX)
            .await
            .unwrap();
        assert!(page.events.len() <= 500);
        if page.events.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for e in page.events {
            assert_eq!(e.seq.0, after.0 + 1, "a puller saw a gap after {}", after.0);
            after = e.seq;
            seen.push(e.event.guid);
        }
    }
    seen
}

/// 8 tasks push 5 batches of 100 events each (random, equal and old timestamps) into one
/// tenant while 4 tasks pull after their last seq: every puller sees seqs `last + 1, …`
/// with no gap and, once caught up, every event exactly once; the entities then equal the
/// fold of all events.
pub async fn concurrent_push_and_pull_never_skips(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let pullers: Vec<_> = (0..PULLERS)
        .map(|_| tokio::spawn(follow(stores.clone(), t.clone())))
        .collect();
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|p| {
            let stores = stores.clone();
            let t = t.clone();
            tokio::spawn(async move {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (p + 1));
                for round in 0..BATCHES {
                    let events = pusher_batch(p, round, &mut rng);
                    let out = stores.events.push(&t, batch(events)).await.unwrap();
                    assert_eq!((out.applied, out.duplicates), (PER_BATCH, 0));
                    assert!(out.errors.is_empty());
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let run = async {
        for p in pushers {
            p.await.unwrap();
        }
        let mut views = Vec::new();
        for p in pullers {
            views.push(p.await.unwrap());
        }
        views
    };
    let views = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("pushers and pullers finish");
    let expected: HashSet<String> = (0..PUSHERS)
        .flat_map(|p| {
            (0..BATCHES).flat_map(move |b| (0..PER_BATCH).map(move |i| format!("w{p}-b{b}-e{i}")))
        })
        .collect();
    for seen in &views {
        assert_eq!(seen.len() as i64, TOTAL);
        assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), expected);
        assert_eq!(seen, &views[0], "all pullers see one order");
    }
    assert_eq!(stores.events.head(&t).await.unwrap(), Seq(TOTAL));
    // Each batch is one transaction: its events are consecutive.
    let all = pull_all(stores, &t).await;
    for chunk in all.chunks(PER_BATCH as usize) {
        let prefix = chunk[0]
            .event
            .guid
            .rsplit_once('-')
            .map(|(p, _)| p.to_owned());
        assert!(chunk
            .iter()
            .all(|e| e.event.guid.rsplit_once('-').map(|(p, _)| p.to_owned()) == prefix));
    }
    let events: Vec<Event> = all.into_iter().map(|e| e.event).collect();
    for (guid, record) in fold(&events) {
        let live = (!record.deleted).then_some(record.entity);
        assert_eq!(stores.entities.get_entity(&t, &guid).await.unwrap(), live);
    }
}
