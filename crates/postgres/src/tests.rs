//! White-box tests of the push primitives ([`PgTx`]) inside a real transaction, in a fresh
//! schema of `TEST_DATABASE_URL` (skipped with a notice when unset, failing when `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::push_tx::PgTx;
use crate::{PgOptions, PgStore};
use diesel::{Connection, PgConnection, RunQueryDsl};
use domain::cursor::Seq;
use domain::entity::{Entity, EntityKind, EntityRecord};
use domain::event::{validate_event, EventKey};
use domain::ports::{EntityTx, NewEvent, PushTx};
use domain::time::Timestamp;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// `TEST_DATABASE_URL`; `None` (the caller skips, with a notice) when it is unset, a
/// failure when `CI=true`.
pub(crate) fn test_database_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "TEST_DATABASE_URL must be set when CI=true"
        );
        eprintln!("notice: TEST_DATABASE_URL is not set; skipping a PostgreSQL test");
    }
    url
}

/// Runs `f` on a push transaction of tenant `t1` (created) in a fresh schema, then rolls
/// back and drops the schema.
fn with_tx(f: impl FnOnce(&mut PgTx<'_>)) {
    in_fresh_schema("", |store| {
        let mut conn = store.test_connection();
        diesel::sql_query(
            "INSERT INTO configs (id, artifact_id, name, document, created_at, updated_at) \
             VALUES ('t1', 'a1', 'One', '{}', 0, 0)",
        )
        .execute(&mut *conn)
        .unwrap();
        let conn: &mut PgConnection = &mut conn;
        conn.begin_test_transaction().unwrap();
        let mut tx = PgTx::new(conn, "t1");
        f(&mut tx);
    });
}

/// Runs `f` on a store (one connection) in a fresh schema of `TEST_DATABASE_URL`, its URL
/// extended with the libpq parameters `params` (may be empty), then drops the schema.
fn in_fresh_schema(params: &str, f: impl FnOnce(&PgStore)) {
    let Some(url) = test_database_url() else {
        return;
    };
    let schema = format!(
        "t_unit_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        crate::sql::now_millis()
    );
    let mut admin = PgConnection::establish(&url).unwrap();
    diesel::sql_query(format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .unwrap();
    let options = PgOptions {
        pool_size: 1,
        schema: Some(schema.clone()),
        ..PgOptions::default()
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let store_url = if params.is_empty() {
        url.clone()
    } else {
        format!("{url}{sep}{params}")
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        f(&PgStore::connect_with(&store_url, options).unwrap());
    }));
    diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap()
}

fn record(guid: &str, deleted: bool, match_key: Option<&str>) -> EntityRecord {
    EntityRecord {
        entity: Entity {
            guid: guid.into(),
            kind: EntityKind::Group,
            name: format!("Name {guid}"),
            version: 2,
            data: json!({"entityName": "household", "name": guid})
                .as_object()
                .cloned()
                .unwrap(),
            member_ids: vec!["m2".into(), "m1".into()],
            external_id: Some("ext".into()),
            last_updated: ts(1_000),
        },
        deleted,
        parent_ids: vec!["g9".into()],
        last_key: EventKey {
            timestamp: ts(1_000),
            guid: "e1".into(),
        },
        match_key: match_key.map(str::to_owned),
    }
}

#[test]
fn entities_are_saved_replaced_and_loaded() {
    with_tx(|tx| {
        let a = record("a", false, Some("k"));
        let b = record("b", true, None);
        tx.save_entities(&[a.clone(), b.clone()]).unwrap();
        let mut loaded = tx
            .load_entities(&["a".into(), "b".into(), "zz".into()])
            .unwrap();
        loaded.sort_by(|x, y| x.entity.guid.cmp(&y.entity.guid));
        assert_eq!(loaded, [a.clone(), b]);
        let mut a2 = a;
        a2.entity.version = 3;
        a2.entity.kind = EntityKind::Individual;
        a2.entity.member_ids.clear();
        a2.entity.external_id = None;
        a2.match_key = None;
        a2.deleted = true;
        tx.save_entities(std::slice::from_ref(&a2)).unwrap();
        assert_eq!(tx.load_entities(&["a".into()]).unwrap(), [a2]);
        assert!(tx.load_entities(&[]).unwrap().is_empty());
        tx.delete_entities(&["a".into(), "zz".into()]).unwrap();
        tx.delete_entities(&[]).unwrap();
        let left = tx.load_entities(&["a".into(), "b".into()]).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].entity.guid, "b");
    });
}

/// Records found absent are inserted without a conflict check, once: saved again (a second
/// stretch of one apply) they are replaced, as are records saved without being loaded.
/// Fails when a saved record stays marked absent (its second save violates the key).
#[test]
fn entities_found_absent_are_inserted_then_replaced() {
    with_tx(|tx| {
        assert!(tx
            .load_entities(&["n".into(), "m".into()])
            .unwrap()
            .is_empty());
        let n = record("n", false, Some("k"));
        let o = record("o", false, None);
        tx.save_entities(&[n.clone(), o.clone()]).unwrap();
        let mut n2 = n;
        n2.entity.version = 2;
        let mut o2 = o;
        o2.entity.version = 5;
        tx.save_entities(&[n2.clone(), o2.clone()]).unwrap();
        let mut loaded = tx
            .load_entities(&["m".into(), "n".into(), "o".into()])
            .unwrap();
        loaded.sort_by(|x, y| x.entity.guid.cmp(&y.entity.guid));
        assert_eq!(loaded, [n2, o2]);
    });
}

/// Live entities a, b, e with key `k`, d with `other`; c with `k` but deleted.
fn save_match_key_fixture(tx: &mut PgTx<'_>) {
    tx.save_entities(&[
        record("a", false, Some("k")),
        record("b", false, Some("k")),
        record("c", true, Some("k")),
        record("d", false, Some("other")),
        record("e", false, Some("k")),
    ])
    .unwrap();
}

#[test]
fn match_keys_find_live_entities_only() {
    with_tx(|tx| {
        save_match_key_fixture(tx);
        assert_eq!(
            tx.entities_with_match_key("k", "a", 10).unwrap(),
            ["b", "e"]
        );
        assert_eq!(tx.entities_with_match_key("k", "a", 1).unwrap(), ["b"]);
        assert!(tx
            .entities_with_match_key("none", "a", 10)
            .unwrap()
            .is_empty());
    });
}

#[test]
fn batched_match_key_probes_answer_each_probe() {
    with_tx(|tx| {
        save_match_key_fixture(tx);
        let probe = |key: &str, except: &str| (key.to_owned(), except.to_owned());
        let probes = [
            probe("k", "a"),
            probe("none", "a"),
            probe("other", "x"),
            probe("k", "b"),
            probe("other", "d"),
        ];
        let mut found = tx.entities_with_match_keys(&probes, 10).unwrap();
        for list in &mut found {
            list.sort();
        }
        let expected: Vec<Vec<&str>> =
            vec![vec!["b", "e"], vec![], vec!["d"], vec!["a", "e"], vec![]];
        assert_eq!(found, expected);
        // `limit` applies per probe.
        let found = tx.entities_with_match_keys(&probes[..1], 1).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), 1);
        assert!(["b", "e"].contains(&found[0][0].as_str()));
        assert!(tx.entities_with_match_keys(&[], 10).unwrap().is_empty());
    });
}

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The plan of a push-path read on never-analysed tables holding a few thousand rows (what
/// a bulk push meets before autovacuum's first ANALYZE).
fn plan(tx: &mut PgTx<'_>, sql: &str, guids: &[String]) -> String {
    use diesel::sql_types::{Array, BigInt, Text};
    let query = diesel::sql_query(format!("EXPLAIN {sql}"))
        .into_boxed()
        .bind::<Text, _>("t1")
        .bind::<Array<Text>, _>(guids);
    // A third parameter, when there is one, is a sequence bound.
    let query = if sql.contains("$3") {
        query.bind::<BigInt, _>(i64::MAX)
    } else {
        query
    };
    explain(query, tx)
}

/// The lines of an `EXPLAIN` query's output, joined.
fn explain(
    query: diesel::query_builder::BoxedSqlQuery<
        '_,
        diesel::pg::Pg,
        diesel::query_builder::SqlQuery,
    >,
    tx: &mut PgTx<'_>,
) -> String {
    query
        .load::<PlanLine>(tx.connection())
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The generic plan of `sql` (parameter types `types`) executed with `args` (SQL
/// literals): the plan a prepared statement is given when PostgreSQL stops planning it for
/// each execution's values.
fn generic_plan(tx: &mut PgTx<'_>, sql: &str, types: &str, args: &str) -> String {
    let run = |tx: &mut PgTx<'_>, sql: String| {
        diesel::sql_query(sql).execute(tx.connection()).unwrap();
    };
    run(tx, format!("PREPARE generic_probe ({types}) AS {sql}"));
    run(tx, "SET LOCAL plan_cache_mode = force_generic_plan".into());
    let plan = explain(
        diesel::sql_query(format!("EXPLAIN EXECUTE generic_probe ({args})")).into_boxed(),
        tx,
    );
    run(tx, "SET LOCAL plan_cache_mode = auto".into());
    run(tx, "DEALLOCATE generic_probe".into());
    plan
}

/// The plan of the entity-events query (the events route and `list_events` by entity) for
/// `guid` of tenant `t1`.
fn entity_events_plan(tx: &mut PgTx<'_>, guid: &str) -> String {
    use diesel::sql_types::{BigInt, Text};
    let query = diesel::sql_query(format!("EXPLAIN {}", crate::events::ENTITY_EVENTS_SQL))
        .into_boxed()
        .bind::<Text, _>("t1")
        .bind::<Text, _>(guid)
        .bind::<BigInt, _>(0)
        .bind::<BigInt, _>(10);
    explain(query, tx)
}

#[test]
fn push_reads_use_unique_keys_without_statistics() {
    use crate::push_tx::{
        EVENTS_REFERENCING_SQL, EXISTING_HASHES_SQL, LOAD_ENTITIES_SQL, MATCH_KEY_PROBES_SQL,
    };
    with_tx(|tx| {
        let raw: Vec<_> = (0..3000)
            .map(|i| {
                json!({"guid": format!("e{i:05}"), "entityGuid": format!("p{i:05}"),
                       "type": "create-individual", "data": {"name": format!("n{i}")},
                       "timestamp": "2024-01-01T00:00:00Z", "userId": "u"})
            })
            .collect();
        let events: Vec<_> = raw.iter().map(|r| validate_event(r).unwrap()).collect();
        let new: Vec<NewEvent<'_>> = events
            .iter()
            .enumerate()
            .map(|(i, e)| NewEvent {
                seq: Seq(i as i64 + 1),
                event: e,
                hash: e.content_hash(),
                refs: vec![e.entity_guid.clone()],
                received_at: ts(0),
                pushed_by: None,
            })
            .collect();
        tx.insert_events(&new).unwrap();
        let records: Vec<_> = (0..3000)
            .map(|i| record(&format!("p{i:05}"), false, Some(&format!("k{i}"))))
            .collect();
        tx.save_entities(&records).unwrap();
        let guids: Vec<String> = (0..100).map(|i| format!("e{:05}", i * 7)).collect();
        let plan_hashes = plan(tx, EXISTING_HASHES_SQL, &guids);
        assert!(
            plan_hashes.contains("events_tenant_id_guid_key"),
            "{plan_hashes}"
        );
        let entities: Vec<String> = (0..100).map(|i| format!("p{:05}", i * 7)).collect();
        let plan_load = plan(tx, LOAD_ENTITIES_SQL, &entities);
        assert!(plan_load.contains("entities_pkey"), "{plan_load}");
        let plan_refs = plan(tx, EVENTS_REFERENCING_SQL, &entities);
        assert!(plan_refs.contains("event_refs_pkey"), "{plan_refs}");
        assert!(plan_refs.contains("events_pkey"), "{plan_refs}");
        let plan_entity = entity_events_plan(tx, "p00007");
        assert!(plan_entity.contains("event_refs_pkey"), "{plan_entity}");
        assert!(plan_entity.contains("events_pkey"), "{plan_entity}");
        for p in [plan_hashes, plan_load, plan_refs, plan_entity] {
            assert!(!p.contains("Seq Scan on e") && !p.contains("Bitmap"), "{p}");
        }
        // The statements are kept prepared. Connections plan each execution for its values
        // (`force_custom_plan`); without that, PostgreSQL would settle on their generic
        // plans after five executions — which use the same keys.
        let list = |v: &[String]| {
            let quoted: Vec<String> = v.iter().map(|g| format!("'{g}'")).collect();
            format!("ARRAY[{}]", quoted.join(", "))
        };
        let generic = [
            (
                EXISTING_HASHES_SQL,
                "text, text[]",
                format!("'t1', {}", list(&guids)),
            ),
            (
                LOAD_ENTITIES_SQL,
                "text, text[]",
                format!("'t1', {}", list(&entities)),
            ),
            (
                EVENTS_REFERENCING_SQL,
                "text, text[], bigint",
                format!("'t1', {}, 9223372036854775807", list(&entities)),
            ),
            (
                MATCH_KEY_PROBES_SQL,
                "text[], text[], text, bigint",
                "ARRAY['k7', 'k14'], ARRAY['x', 'y'], 't1', 50".to_owned(),
            ),
        ]
        .map(|(sql, types, args)| generic_plan(tx, sql, types, &args));
        assert!(
            generic[0].contains("events_tenant_id_guid_key"),
            "{}",
            generic[0]
        );
        assert!(generic[1].contains("entities_pkey"), "{}", generic[1]);
        assert!(generic[2].contains("event_refs_pkey"), "{}", generic[2]);
        assert!(generic[2].contains("events_pkey"), "{}", generic[2]);
        assert!(generic[3].contains("entities_match"), "{}", generic[3]);
        for p in generic {
            // A generic plan shows its parameters, not the values.
            assert!(p.contains("$1") || p.contains("$3"), "{p}");
            assert!(!p.contains("Seq Scan on e") && !p.contains("Bitmap"), "{p}");
        }
        // And they answer what they should.
        assert_eq!(tx.existing_hashes(&guids).unwrap().len(), 100);
        assert_eq!(tx.load_entities(&entities).unwrap().len(), 100);
        let found = tx.events_referencing(&entities, None).unwrap();
        assert_eq!(found.len(), 100);
        assert_eq!(found[0].guid, "e00000");
    });
}

#[test]
fn events_are_found_by_reference_within_the_transaction() {
    with_tx(|tx| {
        assert_eq!(tx.head().unwrap(), Seq(0));
        let raw = |guid: &str, entity: &str| {
            json!({"guid": guid, "entityGuid": entity, "type": "add-member",
                   "data": {"x": 1}, "timestamp": "2024-01-01T00:00:00Z", "userId": 5})
        };
        let e1 = validate_event(&raw("e1", "g1")).unwrap();
        let e2 = validate_event(&raw("e2", "g2")).unwrap();
        let new = vec![
            NewEvent {
                seq: Seq(1),
                event: &e1,
                hash: e1.content_hash(),
                refs: vec!["g1".into(), "m1".into(), "m1".into()],
                received_at: ts(5),
                pushed_by: Some("u"),
            },
            NewEvent {
                seq: Seq(2),
                event: &e2,
                hash: e2.content_hash(),
                refs: vec!["g2".into(), "m1".into()],
                // From another push of the same group commit.
                received_at: ts(9),
                pushed_by: None,
            },
        ];
        tx.insert_events(&new).unwrap();
        // The head kept since the lock is the stored one.
        assert_eq!(tx.head().unwrap(), Seq(2));
        use diesel::prelude::*;
        let stored: i64 = crate::schema::configs::table
            .filter(crate::schema::configs::id.eq("t1"))
            .select(crate::schema::configs::head)
            .first(tx.connection())
            .unwrap();
        assert_eq!(stored, 2);
        // Each event keeps its own push's receive time and pusher.
        let pushes: Vec<(i64, Option<String>)> = crate::schema::events::table
            .filter(crate::schema::events::tenant_id.eq("t1"))
            .order(crate::schema::events::seq)
            .select((
                crate::schema::events::received_at,
                crate::schema::events::pushed_by,
            ))
            .load(tx.connection())
            .unwrap();
        assert_eq!(
            pushes,
            [
                (ts(5).millis(), Some("u".to_owned())),
                (ts(9).millis(), None)
            ]
        );
        let hashes = tx.existing_hashes(&["e2".into(), "nope".into()]).unwrap();
        assert_eq!(hashes.len(), 1);
        assert_eq!(hashes["e2"], e2.content_hash());
        assert_eq!(
            tx.events_referencing(&["m1".into()], None).unwrap(),
            [e1.clone(), e2.clone()]
        );
        assert_eq!(
            tx.events_referencing(&["g2".into(), "zz".into()], None)
                .unwrap(),
            [e2]
        );
        assert!(tx.events_referencing(&[], None).unwrap().is_empty());
        // `up_to` leaves out later events.
        assert_eq!(
            tx.events_referencing(&["m1".into()], Some(Seq(1))).unwrap(),
            std::slice::from_ref(&e1)
        );
        tx.insert_events(&[]).unwrap();
        assert_eq!(tx.head().unwrap(), Seq(2));
    });
}

#[test]
fn an_unknown_tenant_has_no_head() {
    with_tx(|tx| {
        let mut other = PgTx::new(tx.connection(), "ghost");
        assert!(matches!(
            other.head(),
            Err(domain::error::StoreError::NotFound)
        ));
    });
}

#[test]
fn duplicate_flags_respect_keep_both_for_the_same_key() {
    with_tx(|tx| {
        tx.flag_duplicate("n", "o", "k1").unwrap();
        tx.flag_duplicate("n", "o", "k1").unwrap();
        tx.flag_duplicate("n", "p", "k1").unwrap();
        tx.flag_duplicate("q", "n", "k1").unwrap();
        assert_eq!(pairs(tx), ["n/o", "n/p", "q/n"]);
        tx.remove_duplicate("n", "p").unwrap();
        assert_eq!(pairs(tx), ["n/o", "q/n"]);
        tx.remove_duplicates_of("n").unwrap();
        assert!(pairs(tx).is_empty());
        // Kept both while "n" had key k1: flagged again only once the key changes.
        diesel::sql_query(
            "INSERT INTO duplicate_keep_both (tenant_id, entity_guid, duplicate_guid, \
             match_key) VALUES ('t1', 'n', 'o', 'k1')",
        )
        .execute(tx.connection())
        .unwrap();
        tx.flag_duplicate("n", "o", "k1").unwrap();
        assert!(pairs(tx).is_empty());
        tx.flag_duplicate("n", "o", "k2").unwrap();
        assert_eq!(pairs(tx), ["n/o"]);
        tx.remove_duplicates_of("o").unwrap();
        tx.flag_duplicate("n", "o", "k1").unwrap();
        assert_eq!(pairs(tx), ["n/o"]);
    });
}

fn pairs(tx: &mut PgTx<'_>) -> Vec<String> {
    use crate::schema::potential_duplicates as d;
    use diesel::prelude::*;
    let rows: Vec<(String, String)> = d::table
        .order((d::entity_guid, d::duplicate_guid))
        .select((d::entity_guid, d::duplicate_guid))
        .load(tx.connection())
        .unwrap();
    rows.into_iter().map(|(e, d)| format!("{e}/{d}")).collect()
}

/// `create-individual` of `entity` (form `person`, given name `first`) by event `guid`.
fn create_person(guid: &str, entity: &str, first: &str, ms: i64) -> domain::event::Event {
    let raw = json!({"guid": guid, "entityGuid": entity, "type": "create-individual",
        "data": {"entityName": "person", "first": first, "last": format!("L{guid}")},
        "timestamp": ts(ms).to_string(), "userId": 5});
    validate_event(&raw).unwrap()
}

#[test]
fn the_applier_applies_each_ask_under_its_rules_once() {
    use crate::apply_stage::{catch_up, ApplyJob};
    use domain::duplicates::{match_key, DuplicateRule, DuplicateRules, Normalize};
    use domain::materialize::store_group_in_tx;
    use domain::ports::PushBatch;
    with_tx(|tx| {
        let batch = PushBatch {
            events: vec![
                create_person("e1", "p1", "Ann", 1_000),
                create_person("e2", "p2", "Bo", 2_000),
                create_person("e3", "p3", "Cy", 3_000),
            ],
            rejected: Vec::new(),
            pushed_by: None,
            received_at: ts(9),
            rules: DuplicateRules::default(),
        };
        store_group_in_tx(tx, &[&batch]).unwrap();
        let mut by_first = DuplicateRules::default();
        by_first.by_form.insert(
            "person".into(),
            vec![DuplicateRule {
                fields: vec!["first".into()],
                normalize: Normalize::Exact,
            }],
        );
        let default = DuplicateRules::default();
        let progress = |tx: &mut PgTx<'_>| {
            crate::tests::count(
                tx.connection(),
                "SELECT applied AS n FROM entity_progress WHERE tenant_id = 't1'",
            )
        };
        // Asked out of order: event 1 under `by_first`, events 2 and 3 under the default
        // (the events read back: these jobs do not carry them).
        let job = |up_to: i64, rules: &DuplicateRules| ApplyJob {
            up_to: Seq(up_to),
            rules: rules.clone(),
            events: Vec::new(),
        };
        let (three, one) = (job(3, &default), job(1, &by_first));
        catch_up(tx.connection(), "t1", vec![&three, &one]).unwrap();
        assert_eq!(progress(tx), 3);
        let guids = ["p1".to_owned(), "p2".to_owned(), "p3".to_owned()];
        let mut records = tx.load_entities(&guids).unwrap();
        records.sort_by(|a, b| a.entity.guid.cmp(&b.entity.guid));
        let expected: Vec<Option<String>> = records
            .iter()
            .zip([&by_first, &default, &default])
            .map(|(r, rules)| match_key(&r.entity, rules))
            .collect();
        let stored: Vec<Option<String>> = records.iter().map(|r| r.match_key.clone()).collect();
        assert_eq!(stored, expected);
        assert_ne!(expected[0], match_key(&records[0].entity, &default));
        // Asked again (a later push's ask, or a start-up): nothing is applied twice.
        catch_up(tx.connection(), "t1", vec![&job(2, &by_first)]).unwrap();
        let again = tx.load_entities(&guids).unwrap();
        assert!(again.iter().all(|r| r.entity.version == 1));
        assert_eq!(progress(tx), 3);
    });
}

/// The single `n` of `sql`.
fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}

/// The key columns of the push's B-trees compare bytewise (migration `bytewise_keys`):
/// fails when a later migration recreates one of them under the database's collation.
#[test]
fn push_key_columns_compare_bytewise() {
    with_tx(|tx| {
        let bytewise = count(
            tx.connection(),
            "SELECT count(*) AS n FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_collation l ON l.oid = a.attcollation \
             WHERE c.relnamespace = current_schema()::regnamespace AND l.collname = 'C' \
             AND (c.relname, a.attname) IN (('events', 'tenant_id'), ('events', 'guid'), \
             ('events', 'type'), ('event_refs', 'tenant_id'), ('event_refs', 'entity_guid'), \
             ('entities', 'tenant_id'), ('entities', 'guid'), ('entities', 'match_key'))",
        );
        assert_eq!(bytewise, 8);
    });
}

/// A backlog read back is applied [`CATCH_UP_EVENTS`](crate::apply_stage::CATCH_UP_EVENTS)
/// at a time, one transaction each, every step moving `applied` forward, the last one up to
/// the position asked for (fails if a step reads the whole backlog).
#[test]
fn a_long_backlog_is_caught_up_in_bounded_steps() {
    use crate::apply_stage::{catch_up_step, ApplyJob, CATCH_UP_EVENTS};
    use domain::duplicates::DuplicateRules;
    use domain::materialize::store_group_in_tx;
    use domain::ports::PushBatch;
    with_tx(|tx| {
        let n = CATCH_UP_EVENTS + 7;
        let batch = PushBatch {
            events: (1..=n)
                .map(|i| create_person(&format!("e{i}"), &format!("p{i}"), "Ann", i))
                .collect(),
            rejected: Vec::new(),
            pushed_by: None,
            received_at: ts(9),
            rules: DuplicateRules::default(),
        };
        store_group_in_tx(tx, &[&batch]).unwrap();
        let job = ApplyJob {
            up_to: Seq(n),
            rules: DuplicateRules::default(),
            events: Vec::new(),
        };
        let state = |tx: &mut PgTx<'_>| {
            (
                count(
                    tx.connection(),
                    "SELECT applied AS n FROM entity_progress WHERE tenant_id = 't1'",
                ),
                count(
                    tx.connection(),
                    "SELECT count(*) AS n FROM entities WHERE tenant_id = 't1'",
                ),
            )
        };
        assert!(catch_up_step(tx.connection(), "t1", &[&job]).unwrap());
        assert_eq!(state(tx), (CATCH_UP_EVENTS, CATCH_UP_EVENTS));
        assert!(!catch_up_step(tx.connection(), "t1", &[&job]).unwrap());
        assert_eq!(state(tx), (n, n));
        assert!(!catch_up_step(tx.connection(), "t1", &[&job]).unwrap());
    });
}

/// Every pooled connection commits durably, even when the database's default is
/// `synchronous_commit = off`, and ends a transaction left idle after a minute.
#[test]
fn connections_commit_durably_and_bound_idle_transactions() {
    #[derive(diesel::QueryableByName)]
    struct Settings {
        #[diesel(sql_type = diesel::sql_types::Text)]
        commit: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        idle: String,
    }
    let settings_of = |store: &PgStore| {
        let s: Settings = diesel::sql_query(
            "SELECT current_setting('synchronous_commit') AS commit, \
             current_setting('idle_in_transaction_session_timeout') AS idle",
        )
        .get_result(&mut *store.test_connection())
        .unwrap();
        (s.commit, s.idle)
    };
    in_fresh_schema("options=-c%20synchronous_commit%3Doff", |store| {
        assert_eq!(settings_of(store), ("on".into(), "1min".into()));
    });
    // Stricter settings of the operator's are kept.
    let strict = "options=-c%20synchronous_commit%3Dremote_apply%20-c%20idle_in_transaction_session_timeout%3D10s";
    in_fresh_schema(strict, |store| {
        assert_eq!(settings_of(store), ("remote_apply".into(), "10s".into()));
    });
}

/// Events stored but never applied (their apply lost) are applied by the catch-up sweep,
/// with no further push (at its second round: the first only notes what is behind).
#[test]
fn the_catch_up_sweep_applies_events_left_unapplied() {
    in_fresh_schema("", |store| {
        diesel::sql_query(
            "INSERT INTO configs (id, artifact_id, name, document, created_at, updated_at) \
             VALUES ('t1', 'a1', 'One', '{}', 0, 0)",
        )
        .execute(&mut *store.test_connection())
        .unwrap();
        let event = validate_event(&json!({"guid": "e1", "entityGuid": "p1",
            "type": "create-individual", "data": {"name": "Ann"},
            "timestamp": "2024-01-01T00:00:00Z", "userId": "u"}))
        .unwrap();
        let entities = || -> i64 {
            #[derive(diesel::QueryableByName)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            diesel::sql_query("SELECT COUNT(*) AS n FROM entities")
                .get_result::<Count>(&mut *store.test_connection())
                .unwrap()
                .n
        };
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            // Only the storing stage: the events are stored, their apply never runs.
            let batch = domain::ports::PushBatch {
                events: vec![event],
                ..Default::default()
            };
            store
                .pushes
                .submit("t1".to_owned(), batch)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(entities(), 0);
            store.start_catch_up_sweep(std::time::Duration::from_millis(50));
            for _ in 0..100 {
                if entities() == 1 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the sweep did not apply the stored event");
        });
    });
}
