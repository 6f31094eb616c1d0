use super::*;
use crate::event::validate_event;
use serde_json::json;
use std::cell::Cell;

fn stored(seq: i64) -> StoredEvent {
    let raw = json!({"guid": format!("e{seq}"), "entityGuid": "p", "type": "create-individual",
                     "data": {"n": seq}, "timestamp": "2024-01-01T00:00:00Z", "userId": "admin"});
    StoredEvent {
        seq: Seq(seq),
        event: validate_event(&raw).unwrap(),
        received_at: Timestamp::EPOCH,
        pushed_by: None,
    }
}

/// Rows of seq 1..=`n`, each `size` bytes of data, counting how many were read.
fn rows(
    n: i64,
    size: usize,
    read: &Cell<usize>,
) -> impl Iterator<Item = Result<(StoredEvent, usize), String>> + '_ {
    (1..=n).map(move |seq| {
        read.set(read.get() + 1);
        Ok((stored(seq), size))
    })
}

fn seqs(page: &EventPage) -> Vec<i64> {
    page.events.iter().map(|e| e.seq.0).collect()
}

#[test]
fn a_page_ends_at_its_limit_and_reads_one_row_past_it() {
    let read = Cell::new(0);
    let page = EventPage::fill(rows(10, 1, &read), 3, usize::MAX).unwrap();
    assert_eq!(
        (seqs(&page), page.more, read.get()),
        (vec![1, 2, 3], true, 4)
    );
}

#[test]
fn a_page_that_reaches_the_end_has_no_more() {
    let read = Cell::new(0);
    let page = EventPage::fill(rows(3, 1, &read), 3, usize::MAX).unwrap();
    assert_eq!((seqs(&page), page.more), (vec![1, 2, 3], false));
    let page = EventPage::fill(rows(2, 1, &read), 3, usize::MAX).unwrap();
    assert_eq!((seqs(&page), page.more), (vec![1, 2], false));
    let page = EventPage::fill(rows(0, 1, &read), 3, usize::MAX).unwrap();
    assert_eq!((seqs(&page), page.more), (vec![], false));
}

#[test]
fn a_page_ends_with_the_event_that_reaches_the_byte_budget() {
    let read = Cell::new(0);
    // 100-byte events, budget 250: the third brings the page to 300.
    let page = EventPage::fill(rows(10, 100, &read), 1_000, 250).unwrap();
    assert_eq!(
        (seqs(&page), page.more, read.get()),
        (vec![1, 2, 3], true, 4)
    );
    // Exactly at the budget: the event that reaches it is the last.
    let page = EventPage::fill(rows(10, 100, &Cell::new(0)), 1_000, 200).unwrap();
    assert_eq!(seqs(&page), vec![1, 2]);
    // The budget reached by the tenant's last event: nothing more.
    let page = EventPage::fill(rows(2, 100, &Cell::new(0)), 1_000, 200).unwrap();
    assert_eq!((seqs(&page), page.more), (vec![1, 2], false));
}

#[test]
fn one_event_larger_than_the_budget_still_makes_a_page() {
    let page = EventPage::fill(rows(2, 5_000, &Cell::new(0)), 10, 100).unwrap();
    assert_eq!((seqs(&page), page.more), (vec![1], true));
}

#[test]
fn sizes_near_the_top_of_usize_do_not_overflow() {
    let page = EventPage::fill(rows(3, usize::MAX, &Cell::new(0)), 10, usize::MAX).unwrap();
    assert_eq!((seqs(&page), page.more), (vec![1], true));
}

#[test]
fn a_row_error_is_the_page_error_even_on_the_row_past_it() {
    let failing = |at: i64| {
        (1..=3).map(move |seq| {
            if seq == at {
                Err(format!("row {seq}"))
            } else {
                Ok((stored(seq), 1))
            }
        })
    };
    assert_eq!(
        EventPage::fill(failing(2), 5, usize::MAX),
        Err("row 2".into())
    );
    assert_eq!(
        EventPage::fill(failing(3), 2, usize::MAX),
        Err("row 3".into())
    );
}
