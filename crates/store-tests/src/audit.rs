//! Clauses of [`domain::ports::AuditStore`].

use crate::configs::audit_entry;
use crate::fixtures::{create_tenant, ts};
use domain::ports::Stores;

/// Appending is idempotent by guid within a tenant; listing is in store-id order after a
/// cursor, limited, optionally only entries newer than `since`.
pub async fn audit_idempotent_and_paginated(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let first = [
        audit_entry("a", 30),
        audit_entry("b", 10),
        audit_entry("c", 20),
    ];
    assert_eq!(stores.audit.append_audit(&t, &first).await.unwrap(), 3);
    let mut changed = audit_entry("a", 99);
    changed.action = "other".into();
    let second = [changed, audit_entry("d", 40), audit_entry("c", 20)];
    assert_eq!(stores.audit.append_audit(&t, &second).await.unwrap(), 1);
    assert_eq!(stores.audit.append_audit(&t, &[]).await.unwrap(), 0);

    let all = stores.audit.list_audit(&t, None, 0, 100).await.unwrap();
    let entries: Vec<_> = all.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(
        entries,
        [
            audit_entry("a", 30),
            audit_entry("b", 10),
            audit_entry("c", 20),
            audit_entry("d", 40)
        ]
    );
    let ids: Vec<i64> = all.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let page = stores.audit.list_audit(&t, None, ids[0], 2).await.unwrap();
    assert_eq!(page, all[1..3].to_vec());
    assert!(stores
        .audit
        .list_audit(&t, None, ids[3], 10)
        .await
        .unwrap()
        .is_empty());
    let since = stores
        .audit
        .list_audit(&t, Some(ts(20)), 0, 100)
        .await
        .unwrap();
    let guids: Vec<_> = since.iter().map(|(_, e)| e.guid.as_str()).collect();
    assert_eq!(guids, ["a", "d"]);
    let since_page = stores
        .audit
        .list_audit(&t, Some(ts(10)), ids[0], 1)
        .await
        .unwrap();
    assert_eq!(since_page, all[2..3].to_vec());
}
