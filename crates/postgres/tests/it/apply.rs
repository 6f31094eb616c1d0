//! The apply stage: events stored but not applied yet (a stop, a failed apply) are applied
//! by the tenant's next push or at start-up, and several server instances pushing one tenant
//! leave the entities every event set folds to.

use crate::db::{create_tenant, tenant, TestDb};
use crate::events::batch;
use diesel::RunQueryDsl;
use domain::entity::Entity;
use domain::event::{validate_event, Event};
use domain::ports::{EntityQuery, EntityStore, EventStore, PushBatch};
use postgres_store::PgStore;
use serde_json::json;
use std::time::{Duration, Instant};

/// An event of `kind` on `entity` at `ms` (data `{"name", "v"}`).
fn ev(guid: &str, entity: &str, kind: &str, ms: i64) -> Event {
    let raw = json!({"guid": guid, "entityGuid": entity, "type": kind,
        "data": {"name": format!("N {entity}"), "v": guid},
        "timestamp": crate::db::ts(ms).to_iso(), "userId": "admin"});
    validate_event(&raw).unwrap()
}

/// Creations and updates, then a batch with a late update and a late creation (the apply
/// recomputes what they reach).
fn batches() -> Vec<PushBatch> {
    let first = (1..=5)
        .map(|i| {
            ev(
                &format!("c{i}"),
                &format!("p{i}"),
                "create-individual",
                i * 1_000,
            )
        })
        .chain([ev("u1", "p1", "update-individual", 6_000)])
        .collect();
    let second = vec![
        ev("u2", "p2", "update-individual", 7_000),
        ev("late1", "p1", "update-individual", 5_500),
        ev("c6", "p6", "create-individual", 500),
    ];
    vec![batch(first), batch(second)]
}

/// Every entity of the tenant, by guid.
async fn entities(store: &PgStore, id: &str) -> Vec<Entity> {
    let query = EntityQuery {
        limit: 1_000,
        ..EntityQuery::default()
    };
    let mut all = store.list_entities(&tenant(id), &query).await.unwrap();
    all.sort_by(|a, b| a.guid.cmp(&b.guid));
    all
}

/// Makes the tenant's stored events unapplied, as a stop right after their storing
/// transactions would have left them: no entity, apply position 0.
fn unapply(db: &TestDb, id: &str) {
    let mut conn = db.conn();
    for sql in [
        "DELETE FROM entities WHERE tenant_id = $1",
        "UPDATE entity_progress SET applied = 0 WHERE tenant_id = $1",
    ] {
        diesel::sql_query(sql)
            .bind::<diesel::sql_types::Text, _>(id)
            .execute(&mut conn)
            .unwrap();
    }
}

fn applied(db: &TestDb, id: &str) -> i64 {
    crate::db::count(
        &mut db.conn(),
        "SELECT COALESCE((SELECT applied FROM entity_progress WHERE tenant_id = $1), 0) AS n",
        id,
    )
}

#[tokio::test]
async fn events_left_unapplied_are_applied_at_start_up() {
    let (db, store) = crate::test_db!();
    for id in ["t1", "t2"] {
        create_tenant(&store, id, id).await;
        for b in batches() {
            store.push(&tenant(id), b).await.unwrap();
        }
    }
    let expected = entities(&store, "t2").await;
    assert_eq!(expected.len(), 6);
    assert_eq!(entities(&store, "t1").await, expected);
    unapply(&db, "t1");
    assert!(entities(&store, "t1").await.is_empty());
    drop(store);

    let store = db.store();
    assert_eq!(entities(&store, "t1").await, expected);
    assert_eq!(applied(&db, "t1"), 9);
    assert_eq!(entities(&store, "t2").await, expected);
}

#[tokio::test]
async fn the_next_push_applies_what_an_earlier_one_left_unapplied() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    create_tenant(&store, "t2", "Two").await;
    let [first, second] = <[PushBatch; 2]>::try_from(batches()).unwrap();
    store.push(&tenant("t2"), first.clone()).await.unwrap();
    store.push(&tenant("t2"), second.clone()).await.unwrap();
    store.push(&tenant("t1"), first).await.unwrap();
    unapply(&db, "t1");
    store.push(&tenant("t1"), second).await.unwrap();
    assert_eq!(entities(&store, "t1").await, entities(&store, "t2").await);
    assert_eq!(applied(&db, "t1"), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_pushing_one_tenant_converge() {
    let (db, one) = crate::test_db!();
    let two = db.store();
    create_tenant(&one, "t1", "One").await;
    create_tenant(&one, "t2", "Two").await;
    // 32 pushes of 8 events over 12 entities; timestamps run backwards every other push,
    // so applies recompute.
    let pushes: Vec<PushBatch> = (0..32_i64)
        .map(|p| {
            batch(
                (0..8_i64)
                    .map(|i| {
                        let n = p * 8 + i;
                        let ms = if p % 2 == 0 { 10_000 + n } else { 10_000 - n };
                        let kind = if n < 12 {
                            "create-individual"
                        } else {
                            "update-individual"
                        };
                        ev(&format!("e{n}"), &format!("p{}", n % 12), kind, ms)
                    })
                    .collect(),
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, b) in pushes.iter().cloned().enumerate() {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(async move {
            store.push(&tenant("t1"), b).await.unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().applied, 8);
    }
    for b in pushes {
        one.push(&tenant("t2"), b).await.unwrap();
    }
    let expected = entities(&one, "t2").await;
    assert_eq!(expected.len(), 12);
    assert_eq!(entities(&one, "t1").await, expected);
    assert_eq!(applied(&db, "t1"), 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_given_up_by_its_caller_is_still_applied() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let head = || {
        crate::db::count(
            &mut db.conn(),
            "SELECT head AS n FROM configs WHERE id = $1",
            "t1",
        )
    };
    // Each round's caller stops waiting at another moment of its push (a client that
    // disconnects): what was stored is applied all the same, with no later push to catch
    // it up.
    for round in 0..12_u64 {
        let b = batch(
            (0..50_i64)
                .map(|n| {
                    let g = format!("e{round}-{n}");
                    ev(&g, &format!("p{round}-{n}"), "create-individual", 1_000 + n)
                })
                .collect(),
        );
        let t1 = tenant("t1");
        let wait = std::time::Duration::from_micros(700 * round);
        let _ = tokio::time::timeout(wait, store.push(&t1, b)).await;
        // Settled: the head has not moved for 150 ms.
        let mut last = -1;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            let now = head();
            if now == last {
                break;
            }
            last = now;
        }
        assert_eq!(applied(&db, "t1"), last, "round {round}");
    }
    let count = crate::db::count(
        &mut db.conn(),
        "SELECT COUNT(*) AS n FROM entities WHERE tenant_id = $1",
        "t1",
    );
    assert_eq!(count, head());
}

/// An apply that fails after its push's events were stored (here its backend is terminated
/// while it waits for the tenant's apply position) fails that push and is retried behind
/// the answer: the entities catch up with no further push and no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_apply_is_retried_without_another_push() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let [first, second] = <[PushBatch; 2]>::try_from(batches()).unwrap();
    store.push(&tenant("t1"), first).await.unwrap();
    let mut blocker = db.hold_apply_position("t1");
    let push = tokio::spawn({
        let store = store.clone();
        async move { store.push(&tenant("t1"), second).await }
    });
    db.wait_for_a_store_lock_wait();
    let mut admin = db.conn();
    crate::db::count(
        &mut admin,
        "SELECT COUNT(*) AS n FROM (SELECT pg_terminate_backend(pid, 5000) \
         FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = $1) t",
        db.schema(),
    );
    assert!(push.await.unwrap().is_err(), "the push whose apply failed");
    diesel::sql_query("ROLLBACK").execute(&mut blocker).unwrap();
    assert_eq!(applied(&db, "t1"), 6, "not applied yet");
    let deadline = Instant::now() + Duration::from_secs(10);
    while applied(&db, "t1") < 9 {
        assert!(
            Instant::now() < deadline,
            "the failed apply was not retried"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(entities(&store, "t1").await.len(), 6);
}
