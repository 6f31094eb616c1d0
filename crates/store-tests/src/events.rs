//! Clauses of [`domain::ports::EventStore`]: push, pull, listings and quarantine.

use crate::fixtures::{
    batch, create_tenant, event, event_with, guids, pull_all, pull_page, push, seqs, tenant, ts,
};
use domain::cursor::Seq;
use domain::error::StoreError;
use domain::event::{validate_event, RejectCode};
use domain::ports::{EventFilter, PushBatch, Stores};
use serde_json::json;

/// New events get consecutive sequence numbers after the head, in request order, and are
/// stored exactly as pushed with the push's receive time and pusher.
pub async fn push_assigns_consecutive_seqs(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    assert_eq!(stores.events.head(&t).await.unwrap(), Seq(0));
    let first = vec![
        event("e1", "p1", 30),
        event("e2", "p2", 10),
        event("e3", "p1", 20),
    ];
    let out = stores.events.push(&t, batch(first.clone())).await.unwrap();
    assert_eq!((out.applied, out.duplicates, out.head), (3, 0, Seq(3)));
    assert!(out.errors.is_empty());
    let out = stores
        .events
        .push(&t, batch(vec![event("e4", "p3", 5), event("e5", "p3", 6)]))
        .await
        .unwrap();
    assert_eq!((out.applied, out.duplicates, out.head), (2, 0, Seq(5)));
    assert_eq!(stores.events.head(&t).await.unwrap(), Seq(5));
    let all = pull_all(stores, &t).await;
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5]);
    assert_eq!(guids(&all), ["e1", "e2", "e3", "e4", "e5"]);
    assert_eq!(all[0].event, first[0]);
    assert_eq!(all[2].event, first[2]);
    assert_eq!(all[0].received_at, ts(99_000));
    assert_eq!(all[0].pushed_by.as_deref(), Some("7"));
    // An empty push changes nothing and reports the head.
    let out = stores.events.push(&t, batch(vec![])).await.unwrap();
    assert_eq!((out.applied, out.head), (0, Seq(5)));
}

/// Re-pushing a guid with the same content counts as a duplicate and changes nothing.
pub async fn push_is_idempotent_for_same_content(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let events = vec![event("e1", "p1", 1), event("e2", "p1", 2)];
    assert_eq!(push(stores, &t, events.clone()).await, 2);
    let before = stores.entities.get_entity(&t, "p1").await.unwrap();
    let again = stores
        .events
        .push(
            &t,
            batch(vec![
                events[1].clone(),
                event("e3", "p2", 3),
                events[0].clone(),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        (again.applied, again.duplicates, again.head),
        (1, 2, Seq(3))
    );
    assert!(again.errors.is_empty());
    assert_eq!(guids(&pull_all(stores, &t).await), ["e1", "e2", "e3"]);
    assert_eq!(stores.entities.get_entity(&t, "p1").await.unwrap(), before);
    let once_more = stores.events.push(&t, batch(events)).await.unwrap();
    assert_eq!((once_more.applied, once_more.duplicates), (0, 2));
    assert_eq!(stores.events.head(&t).await.unwrap(), Seq(3));
}

/// A guid stored with other content, or repeated with other content inside the batch, is
/// rejected with `EVENT_GUID_CONFLICT`; the stored event is kept unchanged.
pub async fn push_rejects_guid_conflict(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let original = event("e1", "p1", 10);
    assert_eq!(push(stores, &t, vec![original.clone()]).await, 1);
    let changed = event_with("e1", "p1", "create-individual", json!({"name": "X"}), 10);
    let out = stores
        .events
        .push(&t, batch(vec![changed, event("e2", "p2", 11)]))
        .await
        .unwrap();
    assert_eq!((out.applied, out.duplicates, out.head), (1, 0, Seq(2)));
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].code, RejectCode::EventGuidConflict);
    assert_eq!(out.errors[0].guid.as_deref(), Some("e1"));
    let all = pull_all(stores, &t).await;
    assert_eq!(all[0].event, original);
    assert_eq!(guids(&all), ["e1", "e2"]);

    // Inside one batch: the first occurrence wins, the different repeat is a conflict.
    let a = event_with("e9", "p9", "create-individual", json!({"name": "A"}), 20);
    let b = event_with("e9", "p9", "create-individual", json!({"name": "B"}), 20);
    let out = stores
        .events
        .push(&t, batch(vec![a.clone(), b]))
        .await
        .unwrap();
    assert_eq!((out.applied, out.head), (1, Seq(3)));
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].code, RejectCode::EventGuidConflict);
    assert_eq!(out.errors[0].guid.as_deref(), Some("e9"));
    let all = pull_all(stores, &t).await;
    assert_eq!(all[2].event, a);
    assert_eq!(
        stores
            .entities
            .get_entity(&t, "p9")
            .await
            .unwrap()
            .unwrap()
            .name,
        "A"
    );
    // Conflicts are reported to the client, not quarantined.
    assert!(stores
        .events
        .quarantined(&t, 0, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Rejected events are quarantined in request order with their raw JSON, code, message,
/// receive time and pusher; valid events of the same batch are applied; ids page.
pub async fn push_quarantines_rejected(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let raws = [
        json!({"guid": "bad1"}),
        json!([1, 2]),
        json!({"guid": "bad3", "entityGuid": "x"}),
    ];
    let rejected: Vec<_> = raws
        .iter()
        .map(|r| (r.clone(), validate_event(r).unwrap_err()))
        .collect();
    let out = stores
        .events
        .push(
            &t,
            PushBatch {
                rejected: rejected.clone(),
                ..batch(vec![event("ok", "p", 1)])
            },
        )
        .await
        .unwrap();
    assert_eq!((out.applied, out.head), (1, Seq(1)));
    assert_eq!(guids(&pull_all(stores, &t).await), ["ok"]);
    let q = stores.events.quarantined(&t, 0, 10).await.unwrap();
    assert_eq!(q.len(), 3);
    for (row, (raw, rejection)) in q.iter().zip(&rejected) {
        assert_eq!(&row.raw, raw);
        assert_eq!(row.code, rejection.code);
        assert_eq!(row.error, rejection.error);
        assert_eq!(row.received_at, ts(99_000));
        assert_eq!(row.pushed_by.as_deref(), Some("7"));
    }
    assert_eq!(q[1].code, RejectCode::EventNotObject);
    assert!(q[0].id < q[1].id && q[1].id < q[2].id);
    let page = stores.events.quarantined(&t, q[0].id, 1).await.unwrap();
    assert_eq!(page, vec![q[1].clone()]);
    assert!(stores
        .events
        .quarantined(&t, q[2].id, 10)
        .await
        .unwrap()
        .is_empty());
    // A later push appends after the existing rows.
    let later = stores
        .events
        .push(
            &t,
            PushBatch {
                rejected: rejected[..1].to_vec(),
                pushed_by: None,
                ..batch(vec![])
            },
        )
        .await
        .unwrap();
    assert_eq!((later.applied, later.head), (0, Seq(1)));
    let q2 = stores.events.quarantined(&t, q[2].id, 10).await.unwrap();
    assert_eq!(q2.len(), 1);
    assert_eq!(q2[0].pushed_by, None);
    assert!(q2[0].id > q[2].id);
}

/// A push to a tenant that does not exist is `NotFound` and creates nothing.
pub async fn push_unknown_tenant_is_not_found(stores: &Stores) {
    let t = tenant("nope");
    let err = stores
        .events
        .push(&t, batch(vec![event("e1", "p1", 1)]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(stores.events.head(&t).await.unwrap(), Seq(0));
    assert!(pull_page(stores, &t, Seq(0), 10).await.is_empty());
    assert!(stores.configs.get_config(&t).await.unwrap().is_none());
    assert_eq!(stores.entities.count_entities(&t).await.unwrap(), 0);
}

/// `pull` returns at most `limit` events with `seq > after`, in seq order, and tells whether
/// more follow.
pub async fn pull_after_cursor_in_seq_order_with_limit(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    // Client timestamps deliberately not in push order.
    let events = (1..=10)
        .map(|i| event(&format!("e{i:02}"), &format!("p{}", i % 3), 100 - i))
        .collect();
    assert_eq!(push(stores, &t, events).await, 10);
    let page = |after: i64, limit: u32| {
        let stores = stores.clone();
        let t = t.clone();
        async move {
            let page = stores.events.pull(&t, Seq(after), limit, usize::MAX);
            let page = page.await.unwrap();
            (seqs(&page.events), page.more)
        }
    };
    assert_eq!(page(0, 3).await, (vec![1, 2, 3], true));
    assert_eq!(page(3, 3).await, (vec![4, 5, 6], true));
    assert_eq!(page(6, 100).await, (vec![7, 8, 9, 10], false));
    assert_eq!(page(6, 4).await, (vec![7, 8, 9, 10], false));
    assert_eq!(page(9, 5).await, (vec![10], false));
    assert_eq!(page(10, 5).await, (vec![], false));
    assert_eq!(page(0, 0).await, (vec![], true));
    assert_eq!(page(0, u32::MAX).await.0.len(), 10);
    let got = pull_page(stores, &t, Seq(4), 2).await;
    assert_eq!(guids(&got), ["e05", "e06"]);
    assert!(pull_page(stores, &tenant("other"), Seq(0), 10)
        .await
        .is_empty());
}

/// A pull page ends with the event whose `data` brings the page's to the byte budget (at
/// least one event per page), and following the pages reaches every event once.
pub async fn pull_pages_are_bounded_by_data_bytes(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    // Each event's data is one ~1,000-byte string: as JSON text 1,011–1,012 bytes, whichever
    // spacing the store gives it back with.
    let events = (1..=10)
        .map(|i| {
            let data = json!({"blob": format!("{i:02}").repeat(500)});
            event_with(&format!("e{i:02}"), "p", "update-individual", data, i)
        })
        .collect();
    assert_eq!(push(stores, &t, events).await, 10);
    let page = |after: i64, limit: u32, bytes: usize| {
        let stores = stores.clone();
        let t = t.clone();
        async move {
            let page = stores.events.pull(&t, Seq(after), limit, bytes).await;
            let page = page.unwrap();
            (seqs(&page.events), page.more)
        }
    };
    // 2,500 bytes: the third event brings the page past it.
    assert_eq!(page(0, 100, 2_500).await, (vec![1, 2, 3], true));
    // The count still bounds a page first.
    assert_eq!(page(0, 2, 2_500).await, (vec![1, 2], true));
    // An event larger than the budget makes a page of its own.
    assert_eq!(page(4, 100, 10).await, (vec![5], true));
    // The tenant's last event reaching the budget: nothing more.
    assert_eq!(page(8, 100, 2_000).await, (vec![9, 10], false));
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (got, more) = page(after, 100, 2_500).await;
        assert!(got.len() <= 3, "page {got:?}");
        after = got.last().copied().unwrap_or(after);
        seen.extend(got);
        if !more {
            break;
        }
    }
    assert_eq!(seen, (1..=10).collect::<Vec<i64>>());
}

/// `first_seq_at_or_after` is the smallest seq whose client timestamp is `>= at`.
pub async fn first_seq_at_or_after_serves_legacy_since(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    assert_eq!(
        stores
            .events
            .first_seq_at_or_after(&t, ts(0))
            .await
            .unwrap(),
        None
    );
    let events = vec![
        event("a", "p", 10),
        event("b", "p", 30),
        event("c", "p", 20),
    ];
    assert_eq!(push(stores, &t, events).await, 3);
    let at = |ms: i64| {
        let stores = stores.clone();
        let t = t.clone();
        async move {
            stores
                .events
                .first_seq_at_or_after(&t, ts(ms))
                .await
                .unwrap()
        }
    };
    assert_eq!(at(0).await, Some(Seq(1)));
    assert_eq!(at(10).await, Some(Seq(1)));
    assert_eq!(at(11).await, Some(Seq(2)));
    assert_eq!(at(20).await, Some(Seq(2)));
    assert_eq!(at(30).await, Some(Seq(2)));
    assert_eq!(at(31).await, None);
    assert_eq!(
        stores
            .events
            .first_seq_at_or_after(&tenant("other"), ts(0))
            .await
            .unwrap(),
        None
    );
}

/// `list_events` filters by entity and type, after a seq, in seq order, limited.
pub async fn list_events_filters_in_seq_order(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let events = vec![
        event("e1", "p1", 5),
        event_with("e2", "p1", "update-individual", json!({"age": 3}), 4),
        event("e3", "p2", 3),
        event_with("e4", "p1", "update-individual", json!({"age": 4}), 2),
        event_with("e5", "p2", "update-individual", json!({"age": 5}), 1),
    ];
    assert_eq!(push(stores, &t, events).await, 5);
    let list = |entity: Option<&str>, kind: Option<&str>, after: i64, limit: u32| {
        let filter = EventFilter {
            entity_guid: entity.map(str::to_owned),
            event_type: kind.map(str::to_owned),
        };
        let stores = stores.clone();
        let t = t.clone();
        async move {
            guids(
                &stores
                    .events
                    .list_events(&t, &filter, Seq(after), limit)
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(
        list(None, None, 0, 10).await,
        ["e1", "e2", "e3", "e4", "e5"]
    );
    assert_eq!(list(Some("p1"), None, 0, 10).await, ["e1", "e2", "e4"]);
    assert_eq!(list(Some("p1"), None, 1, 1).await, ["e2"]);
    assert_eq!(
        list(None, Some("update-individual"), 0, 10).await,
        ["e2", "e4", "e5"]
    );
    assert_eq!(
        list(Some("p1"), Some("update-individual"), 2, 10).await,
        ["e4"]
    );
    assert_eq!(
        list(None, Some("update-individual"), 0, 2).await,
        ["e2", "e4"]
    );
    assert!(list(None, Some("delete-entity"), 0, 10).await.is_empty());
    assert!(list(Some("p3"), None, 0, 10).await.is_empty());
}

/// `entity_events` lists an entity's events in application order `(timestamp, guid)`.
pub async fn entity_events_in_application_order(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let events = vec![
        event("z", "p1", 10),
        event_with("m", "p1", "update-individual", json!({"a": 1}), 30),
        event_with("b", "p1", "update-individual", json!({"a": 2}), 20),
        event_with("a", "p1", "update-individual", json!({"a": 3}), 20),
        event("other", "p2", 1),
    ];
    assert_eq!(push(stores, &t, events).await, 5);
    let got = stores.events.entity_events(&t, "p1", 10).await.unwrap();
    assert_eq!(guids(&got), ["z", "a", "b", "m"]);
    assert_eq!(seqs(&got), [1, 4, 3, 2]);
    let got = stores.events.entity_events(&t, "p1", 2).await.unwrap();
    assert_eq!(guids(&got), ["z", "a"]);
    assert!(stores
        .events
        .entity_events(&t, "nope", 10)
        .await
        .unwrap()
        .is_empty());
}
