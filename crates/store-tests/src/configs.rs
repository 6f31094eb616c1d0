//! Clauses of [`domain::ports::ConfigStore`] and of tenant separation.

use crate::accounts::new_user;
use crate::fixtures::{
    artifact_for, batch, config_record, create_tenant, event, event_with, guids, pull_all,
    pull_page, push, seqs, tenant, ts,
};
use domain::cursor::Seq;
use domain::duplicates::DuplicateRules;
use domain::error::StoreError;
use domain::event::validate_event;
use domain::ports::{AuditEntry, ConfigQuery, ConfigSort, PushBatch, Role, RoleAssignment, Stores};
use domain::tenant::TenantId;
use serde_json::json;

/// Save creates, then replaces the document, artifact and `updated_at` (keeping creation
/// time, archive state and data); artifact ids are unique; archived configs are hidden
/// from the artifact lookup but still readable by id.
pub async fn config_crud_archive_and_artifact(stores: &Stores) {
    let c = stores.configs.as_ref();
    let t = tenant("t1");
    assert_eq!(c.get_config(&t).await.unwrap(), None);
    let original = config_record("t1", "One", "1.0");
    assert!(c.save_config(&original).await.unwrap());
    assert_eq!(c.get_config(&t).await.unwrap(), Some(original.clone()));
    assert_eq!(push(stores, &t, vec![event("e1", "p1", 1)]).await, 1);

    let mut changed = config_record("t1", "One v2", "2.0");
    changed.artifact_id = artifact_for("new artifact");
    changed.created_at = ts(5_000);
    changed.updated_at = ts(6_000);
    assert!(!c.save_config(&changed).await.unwrap());
    let got = c.get_config(&t).await.unwrap().unwrap();
    assert_eq!(got.document, changed.document);
    assert_eq!(got.artifact_id, changed.artifact_id);
    assert_eq!(got.updated_at, ts(6_000));
    assert_eq!(got.created_at, ts(1_000));
    assert_eq!(got.archived_at, None);
    // Its events and entities are kept.
    assert_eq!(stores.events.head(&t).await.unwrap(), Seq(1));
    assert_eq!(stores.entities.count_entities(&t).await.unwrap(), 1);

    assert_eq!(
        c.config_by_artifact(&original.artifact_id).await.unwrap(),
        None
    );
    assert_eq!(
        c.config_by_artifact(&changed.artifact_id).await.unwrap(),
        Some(got.clone())
    );
    let mut thief = config_record("t2", "Two", "1.0");
    thief.artifact_id = changed.artifact_id.clone();
    let err = c.save_config(&thief).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(c.get_config(&tenant("t2")).await.unwrap(), None);

    assert!(c.set_archived(&t, Some(ts(7_000))).await.unwrap());
    assert_eq!(
        c.config_by_artifact(&changed.artifact_id).await.unwrap(),
        None
    );
    let archived = c.get_config(&t).await.unwrap().unwrap();
    assert_eq!(archived.archived_at, Some(ts(7_000)));
    // Saving again keeps the archive state.
    assert!(!c.save_config(&changed).await.unwrap());
    assert_eq!(
        c.get_config(&t).await.unwrap().unwrap().archived_at,
        Some(ts(7_000))
    );
    assert!(c.set_archived(&t, None).await.unwrap());
    assert_eq!(
        c.config_by_artifact(&changed.artifact_id)
            .await
            .unwrap()
            .map(|r| r.archived_at),
        Some(None)
    );
    assert!(!c.set_archived(&tenant("nope"), Some(ts(1))).await.unwrap());
    c.ping().await.unwrap();
}

async fn listed(stores: &Stores, q: &ConfigQuery) -> (Vec<String>, Vec<u64>, u64) {
    let (rows, total) = stores.configs.list_configs(q).await.unwrap();
    (
        rows.iter()
            .map(|r| r.record.id.as_str().to_owned())
            .collect(),
        rows.iter().map(|r| r.entities_count).collect(),
        total,
    )
}

/// The config list: lower-case substring search on name, id and version; sort by name, id
/// or live entity count (ties by id, same direction); paging with the total of all
/// matches; `only` and `include_archived` filters.
pub async fn list_configs_search_sort_and_paging(stores: &Stores) {
    let c = stores.configs.as_ref();
    for (id, name, version) in [
        ("alpha", "Zeta Survey", "1.0"),
        ("beta", "Household", "2.5-RC"),
        ("gamma", "Big Household", "1.0"),
        ("delta", "Archived one", "9"),
    ] {
        assert!(c
            .save_config(&config_record(id, name, version))
            .await
            .unwrap());
    }
    assert!(c.set_archived(&tenant("delta"), Some(ts(2))).await.unwrap());
    // Live entities: alpha 2 (one more deleted), beta 0, gamma 1.
    let alpha = tenant("alpha");
    push(
        stores,
        &alpha,
        vec![
            event("a1", "p1", 1),
            event("a2", "p2", 2),
            event("a3", "p3", 3),
            event_with("a4", "p3", "delete-entity", json!({"r": 1}), 4),
        ],
    )
    .await;
    push(stores, &tenant("gamma"), vec![event("g1", "p1", 1)]).await;

    let q = ConfigQuery {
        limit: 100,
        ..ConfigQuery::default()
    };
    // Default: by name, archived hidden.
    assert_eq!(
        listed(stores, &q).await,
        (s(&["gamma", "beta", "alpha"]), vec![1, 0, 2], 3)
    );
    let with_archived = ConfigQuery {
        include_archived: true,
        ..q.clone()
    };
    assert_eq!(
        listed(stores, &with_archived).await.0,
        s(&["delta", "gamma", "beta", "alpha"])
    );
    let by_id_desc = ConfigQuery {
        sort: ConfigSort::Id,
        descending: true,
        ..q.clone()
    };
    assert_eq!(
        listed(stores, &by_id_desc).await.0,
        s(&["gamma", "beta", "alpha"])
    );
    let by_count = ConfigQuery {
        sort: ConfigSort::EntitiesCount,
        ..q.clone()
    };
    assert_eq!(
        listed(stores, &by_count).await.0,
        s(&["beta", "gamma", "alpha"])
    );
    let by_count_desc = ConfigQuery {
        descending: true,
        ..by_count
    };
    assert_eq!(
        listed(stores, &by_count_desc).await.0,
        s(&["alpha", "gamma", "beta"])
    );

    let search = |needle: &str| ConfigQuery {
        search: Some(needle.into()),
        sort: ConfigSort::Id,
        ..q.clone()
    };
    assert_eq!(
        listed(stores, &search("household")).await.0,
        s(&["beta", "gamma"])
    );
    assert_eq!(listed(stores, &search("rc")).await.0, s(&["beta"]));
    assert_eq!(listed(stores, &search("amm")).await.0, s(&["gamma"]));
    assert_eq!(
        listed(stores, &search("1.0")).await.0,
        s(&["alpha", "gamma"])
    );
    assert_eq!(listed(stores, &search("%")).await.2, 0);
    assert_eq!(listed(stores, &search("_")).await.2, 0);
    assert_eq!(listed(stores, &search("archived")).await.2, 0);

    let page = ConfigQuery {
        sort: ConfigSort::Id,
        offset: 1,
        limit: 1,
        ..q.clone()
    };
    assert_eq!(listed(stores, &page).await, (s(&["beta"]), vec![0], 3));
    let past_end = ConfigQuery {
        offset: 5,
        ..q.clone()
    };
    assert_eq!(listed(stores, &past_end).await, (vec![], vec![], 3));
    let only = ConfigQuery {
        only: Some(s(&["gamma", "delta", "nope"])),
        ..q.clone()
    };
    assert_eq!(listed(stores, &only).await, (s(&["gamma"]), vec![1], 1));
    let only_archived = ConfigQuery {
        include_archived: true,
        ..only
    };
    assert_eq!(
        listed(stores, &only_archived).await.0,
        s(&["delta", "gamma"])
    );
    let none = ConfigQuery {
        only: Some(vec![]),
        ..q
    };
    assert_eq!(listed(stores, &none).await, (vec![], vec![], 0));
}

fn s(items: &[&str]) -> Vec<String> {
    items.iter().map(|x| (*x).to_owned()).collect()
}

/// An audit entry with `guid` at `ms`.
pub fn audit_entry(guid: &str, ms: i64) -> AuditEntry {
    AuditEntry {
        guid: guid.into(),
        timestamp: ts(ms),
        user_id: "7".into(),
        action: "update".into(),
        event_guid: format!("ev-{guid}"),
        entity_guid: "p1".into(),
        changes: json!({"name": ["a", "b"]}),
        signature: String::new(),
    }
}

/// Fills a tenant with one row of every kind: events, entities (a flagged duplicate
/// pair), quarantine and audit log.
async fn fill(stores: &Stores, t: &TenantId, name: &str) {
    let raw = json!({"guid": "bad"});
    let rejection = validate_event(&raw).unwrap_err();
    let out = stores
        .events
        .push(
            t,
            PushBatch {
                rejected: vec![(raw, rejection)],
                rules: DuplicateRules::default(),
                ..batch(vec![
                    event_with("e1", "p1", "create-individual", json!({"name": name}), 1),
                    event_with("e2", "p2", "create-individual", json!({"name": name}), 2),
                ])
            },
        )
        .await
        .unwrap();
    assert_eq!(out.applied, 2);
    assert_eq!(
        stores
            .audit
            .append_audit(t, &[audit_entry("a1", 1)])
            .await
            .unwrap(),
        1
    );
}

/// A purge takes the tenant out of every user's `tenant_ids` and `role_assignments` (a
/// config created again under that id starts with no users); other grants, their order and
/// other users are untouched; purging a config that does not exist changes no user.
pub async fn purge_takes_the_tenant_out_of_user_grants(stores: &Stores) {
    let t1 = create_tenant(stores, "t1").await;
    create_tenant(stores, "t3").await;
    let grant = |tenant: &str, role: &str| RoleAssignment {
        tenant_id: tenant.into(),
        role: role.into(),
        area_id: None,
    };
    let mut both = new_user("both@x.org", Role::User);
    both.tenant_ids = vec!["t3".into(), "t1".into(), "t2".into()];
    both.role_assignments = vec![
        grant("t3", "supervisor"),
        grant("t1", "enumerator"),
        grant("t2", "enumerator"),
    ];
    let both = stores.users.create_user(&both).await.unwrap();
    let mut other = new_user("other@x.org", Role::User);
    other.tenant_ids = vec!["t2".into()];
    other.role_assignments = vec![grant("t2", "enumerator")];
    let other = stores.users.create_user(&other).await.unwrap();
    assert!(!stores.configs.purge_config(&tenant("t2")).await.unwrap());
    assert_eq!(stores.users.get_user(both.id).await.unwrap().unwrap(), both);
    assert!(stores.configs.purge_config(&t1).await.unwrap());
    let after = stores.users.get_user(both.id).await.unwrap().unwrap();
    assert_eq!(after.tenant_ids, ["t3", "t2"]);
    assert_eq!(
        after.role_assignments,
        [grant("t3", "supervisor"), grant("t2", "enumerator")]
    );
    assert_eq!((after.email, after.role), (both.email, both.role));
    assert_eq!(
        stores.users.get_user(other.id).await.unwrap().unwrap(),
        other
    );
    // A user whose only grant was the purged tenant keeps empty lists.
    let mut only = new_user("only@x.org", Role::User);
    only.tenant_ids = vec!["t3".into()];
    only.role_assignments = vec![grant("t3", "enumerator")];
    let only = stores.users.create_user(&only).await.unwrap();
    assert!(stores.configs.purge_config(&tenant("t3")).await.unwrap());
    let after = stores.users.get_user(only.id).await.unwrap().unwrap();
    assert!(after.tenant_ids.is_empty() && after.role_assignments.is_empty());
}

/// Purging a config deletes every row of its tenant, and only of that tenant; the id can
/// then be created again from scratch, its sequence continuing after the purged head.
pub async fn purge_deletes_tenant_rows(stores: &Stores) {
    let t1 = create_tenant(stores, "t1").await;
    let t2 = create_tenant(stores, "t2").await;
    fill(stores, &t1, "Same").await;
    fill(stores, &t2, "Same").await;
    assert!(stores.entities.has_duplicates(&t1).await.unwrap());
    assert!(stores.configs.purge_config(&t1).await.unwrap());
    assert!(!stores.configs.purge_config(&t1).await.unwrap());
    assert_eq!(stores.configs.get_config(&t1).await.unwrap(), None);
    assert_eq!(
        stores
            .configs
            .config_by_artifact(&artifact_for("t1"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(stores.events.head(&t1).await.unwrap(), Seq(0));
    assert!(pull_all(stores, &t1).await.is_empty());
    assert_eq!(stores.entities.count_entities(&t1).await.unwrap(), 0);
    assert!(!stores.entities.has_duplicates(&t1).await.unwrap());
    assert!(stores
        .events
        .quarantined(&t1, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(stores
        .audit
        .list_audit(&t1, None, 0, 10)
        .await
        .unwrap()
        .is_empty());
    // The other tenant is untouched.
    assert_eq!(guids(&pull_all(stores, &t2).await), ["e1", "e2"]);
    assert_eq!(stores.entities.count_entities(&t2).await.unwrap(), 2);
    assert!(stores.entities.has_duplicates(&t2).await.unwrap());
    assert_eq!(
        stores.events.quarantined(&t2, 0, 10).await.unwrap().len(),
        1
    );
    assert_eq!(
        stores
            .audit
            .list_audit(&t2, None, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Recreated from scratch: the same guids are new again, and the sequence continues
    // after the purged head, so a cursor a device kept from before skips nothing.
    let t1 = create_tenant(stores, "t1").await;
    assert_eq!(stores.events.head(&t1).await.unwrap(), Seq(2));
    let out = stores
        .events
        .push(&t1, batch(vec![event("e1", "p1", 1)]))
        .await
        .unwrap();
    assert_eq!((out.applied, out.duplicates, out.head), (1, 0, Seq(3)));
    let after_old_cursor = pull_page(stores, &t1, Seq(2), 10).await;
    assert_eq!(guids(&after_old_cursor), ["e1"]);
    assert_eq!(seqs(&after_old_cursor), [3]);
    // A pull from the start, or from a cursor further back than a page, reaches it too.
    for from in [Seq(0), Seq(1)] {
        let page = pull_page(stores, &t1, from, 1).await;
        assert_eq!(seqs(&page), [3], "pull after {from:?}");
    }
    assert_eq!(stores.entities.count_entities(&t1).await.unwrap(), 1);
    assert!(!stores.entities.has_duplicates(&t1).await.unwrap());
    assert_eq!(
        stores
            .audit
            .append_audit(&t1, &[audit_entry("a1", 1)])
            .await
            .unwrap(),
        1
    );
    // A second purge remembers the later head.
    assert!(stores.configs.purge_config(&t1).await.unwrap());
    let t1 = create_tenant(stores, "t1").await;
    assert_eq!(stores.events.head(&t1).await.unwrap(), Seq(3));
}

/// The same guids in two tenants are independent: events (no conflict across tenants),
/// entities, duplicates, quarantine and audit log.
pub async fn tenant_isolation(stores: &Stores) {
    let t1 = create_tenant(stores, "t1").await;
    let t2 = create_tenant(stores, "t2").await;
    fill(stores, &t1, "One").await;
    // Same guids, other content: not a conflict in another tenant.
    let out = stores
        .events
        .push(
            &t2,
            batch(vec![
                event_with("e1", "p1", "create-individual", json!({"name": "Two"}), 5),
                event_with("e9", "p9", "create-individual", json!({"name": "Nine"}), 6),
            ]),
        )
        .await
        .unwrap();
    assert_eq!((out.applied, out.duplicates, out.head), (2, 0, Seq(2)));
    assert!(out.errors.is_empty());
    assert_eq!(stores.events.head(&t1).await.unwrap(), Seq(2));
    assert_eq!(guids(&pull_all(stores, &t1).await), ["e1", "e2"]);
    assert_eq!(guids(&pull_all(stores, &t2).await), ["e1", "e9"]);
    let p1 = |t: TenantId| {
        let stores = stores.clone();
        async move {
            stores
                .entities
                .get_entity(&t, "p1")
                .await
                .unwrap()
                .unwrap()
                .name
        }
    };
    assert_eq!(p1(t1.clone()).await, "One");
    assert_eq!(p1(t2.clone()).await, "Two");
    assert_eq!(stores.entities.get_entity(&t2, "p2").await.unwrap(), None);
    assert_eq!(stores.entities.get_entity(&t1, "p9").await.unwrap(), None);
    assert_eq!(stores.entities.count_entities(&t2).await.unwrap(), 2);
    assert!(stores.entities.has_duplicates(&t1).await.unwrap());
    assert!(!stores.entities.has_duplicates(&t2).await.unwrap());
    assert!(stores
        .entities
        .list_duplicates(&t2, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(stores
        .events
        .quarantined(&t2, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        stores.events.quarantined(&t1, 0, 10).await.unwrap().len(),
        1
    );
    assert!(stores
        .audit
        .list_audit(&t2, None, 0, 10)
        .await
        .unwrap()
        .is_empty());
    // The same audit guid is new in the other tenant.
    assert_eq!(
        stores
            .audit
            .append_audit(&t2, &[audit_entry("a1", 1)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        stores
            .audit
            .list_audit(&t1, None, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        stores
            .audit
            .list_audit(&t2, None, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // keep_both on one tenant does not touch the other.
    let pairs = stores.entities.list_duplicates(&t1, 0, 10).await.unwrap();
    assert_eq!(pairs.len(), 1);
    assert!(!stores.entities.keep_both(&t2, &pairs[0]).await.unwrap());
    assert!(stores.entities.has_duplicates(&t1).await.unwrap());
}
