use super::*;
use crate::apply::tests::ev;
use crate::duplicates::{DuplicateRule, DuplicateRules, Normalize};
use crate::fake::tenant::MemTenant;
use crate::ports::EntityTx;
use crate::time::Timestamp;
use proptest::prelude::*;
use serde_json::{json, Value};

fn batch(events: Vec<Event>) -> PushBatch {
    PushBatch {
        events,
        received_at: Timestamp::from_millis(99).unwrap(),
        pushed_by: Some("1".into()),
        ..PushBatch::default()
    }
}

fn push(t: &mut MemTenant, events: Vec<Event>) -> PushOutcome {
    push_in_tx(t, &batch(events)).unwrap()
}

/// Entity states without the match keys (which depend on the rules, not the order).
fn states(t: &MemTenant) -> BTreeMap<String, EntityRecord> {
    t.entities()
        .iter()
        .map(|(k, r)| {
            (
                k.clone(),
                EntityRecord {
                    match_key: None,
                    ..r.clone()
                },
            )
        })
        .collect()
}

#[test]
fn assigns_consecutive_seqs_and_counts() {
    let mut t = MemTenant::default();
    let out = push(
        &mut t,
        vec![
            ev("e1", "p", "create-individual", json!({"name": "A"}), 1),
            ev("e2", "p", "update-individual", json!({"name": "B"}), 2),
        ],
    );
    assert_eq!((out.applied, out.duplicates, out.head), (2, 0, Seq(2)));
    assert_eq!(
        t.events().iter().map(|e| e.seq.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(t.events()[0].pushed_by.as_deref(), Some("1"));
    assert_eq!(t.entities()["p"].entity.name, "B");
}

#[test]
fn re_push_is_idempotent_and_conflicts_are_rejected() {
    let mut t = MemTenant::default();
    let e1 = ev("e1", "p", "create-individual", json!({"name": "A"}), 1);
    push(&mut t, vec![e1.clone()]);
    let before = states(&t);
    let mut relevelled = e1.clone();
    relevelled.sync_level = crate::event::SyncLevel::LOCAL;
    let out = push(&mut t, vec![e1.clone(), relevelled]);
    assert_eq!((out.applied, out.duplicates), (0, 2));
    assert_eq!(states(&t), before);
    let changed = ev("e1", "p", "create-individual", json!({"name": "Z"}), 1);
    let out = push(&mut t, vec![changed]);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].code, RejectCode::EventGuidConflict);
    assert_eq!(out.head, Seq(1));
    assert_eq!(t.entities()["p"].entity.name, "A");
}

#[test]
fn repeats_inside_one_batch() {
    let mut t = MemTenant::default();
    let a = ev("e1", "p", "create-individual", json!({"name": "A"}), 1);
    let b = ev("e1", "p", "create-individual", json!({"name": "B"}), 1);
    let out = push(&mut t, vec![a.clone(), a, b]);
    assert_eq!((out.applied, out.duplicates, out.errors.len()), (1, 1, 1));
    assert_eq!(out.errors[0].guid.as_deref(), Some("e1"));
}

#[test]
fn rejected_events_are_quarantined_and_reported() {
    let mut t = MemTenant::default();
    let raw = json!({"guid": "bad"});
    let why = crate::event::validate_event(&raw).unwrap_err();
    let mut b = batch(vec![]);
    b.rejected = vec![(raw.clone(), why.clone())];
    let out = push_in_tx(&mut t, &b).unwrap();
    assert_eq!(out.errors, vec![why]);
    assert_eq!(t.quarantine_rows()[0].raw, raw);
    assert_eq!(out.head, Seq(0));
}

#[test]
fn late_event_triggers_recompute_equal_to_full_fold() {
    let mut t = MemTenant::default();
    let early = ev(
        "e1",
        "p",
        "create-individual",
        json!({"name": "A", "v": 1}),
        10,
    );
    let later = ev("e3", "p", "update-individual", json!({"v": 3}), 30);
    push(&mut t, vec![early.clone()]);
    push(&mut t, vec![later.clone()]);
    // An offline device pushes an edit made between the two, after both arrived.
    let late = ev(
        "e2",
        "p",
        "update-individual",
        json!({"v": 2, "name": "Late"}),
        20,
    );
    push(&mut t, vec![late.clone()]);
    let p = &t.entities()["p"].entity;
    assert_eq!(p.data["v"], 3, "the newer edit still wins");
    assert_eq!(p.name, "Late");
    assert_eq!(p.version, 3);
    assert_eq!(states(&t), fold(&[early, later, late]));
}

#[test]
fn late_delete_of_a_household_recomputes_members() {
    let mut t = MemTenant::default();
    let create = ev(
        "c",
        "hh",
        "create-group",
        json!({"members": [{"guid": "m"}]}),
        10,
    );
    let edit = ev("u", "m", "update-individual", json!({"name": "After"}), 30);
    push(&mut t, vec![create.clone()]);
    push(&mut t, vec![edit.clone()]);
    let delete = ev("d", "hh", "delete-entity", json!({"r": 1}), 20);
    push(&mut t, vec![delete.clone()]);
    assert!(
        t.entities()["m"].deleted,
        "the delete happened before the edit: delete wins"
    );
    assert_eq!(states(&t), fold(&[create, edit, delete]));
}

#[test]
fn duplicates_flagged_resolved_and_keep_both_remembered() {
    let mut t = MemTenant::default();
    push(
        &mut t,
        vec![ev(
            "e1",
            "a",
            "create-individual",
            json!({"entityName": "person", "first": "Ann", "parentGuid": "x"}),
            1,
        )],
    );
    push(
        &mut t,
        vec![ev(
            "e2",
            "b",
            "create-individual",
            json!({"entityName": "person", "first": "ANN", "parentGuid": "y"}),
            2,
        )],
    );
    assert_eq!(
        t.duplicates().iter().cloned().collect::<Vec<_>>(),
        vec![("b".to_string(), "a".to_string())]
    );
    assert!(t.keep_both("b", "a"));
    // An unrelated field change keeps the match key: not flagged again.
    push(
        &mut t,
        vec![ev(
            "e3",
            "b",
            "update-individual",
            json!({"parentGuid": "z"}),
            3,
        )],
    );
    assert!(t.duplicates().is_empty());
    // A matched-field change and back re-flags it (the key changed).
    push(
        &mut t,
        vec![ev("e4", "b", "update-individual", json!({"extra": "1"}), 4)],
    );
    push(
        &mut t,
        vec![ev("e5", "a", "update-individual", json!({"extra": "1"}), 5)],
    );
    assert_eq!(t.duplicates().len(), 1);
    // Deleting one side removes the pair.
    push(
        &mut t,
        vec![ev(
            "e6",
            "a",
            "resolve-duplicate",
            json!({"duplicates": [{"entityGuid": "a", "duplicateGuid": "b"}], "shouldDelete": true}),
            6,
        )],
    );
    assert!(t.duplicates().is_empty());
}

#[test]
fn nested_fields_match_under_the_default_rule() {
    // Upstream bug 13: dotted keys were looked up literally, so nested data never matched.
    let mut t = MemTenant::default();
    push(
        &mut t,
        vec![
            ev(
                "e1",
                "a",
                "create-individual",
                json!({"addr": {"city": "X"}, "n": "q'\"; DROP TABLE"}),
                1,
            ),
            ev(
                "e2",
                "b",
                "create-individual",
                json!({"addr": {"city": "x"}, "n": "Q'\"; drop table"}),
                2,
            ),
        ],
    );
    assert_eq!(t.duplicates().len(), 1);
}

/// Rules matching the form `person` on its exact `first` field.
fn person_by_first() -> DuplicateRules {
    let mut rules = DuplicateRules::default();
    rules.by_form.insert(
        "person".into(),
        vec![DuplicateRule {
            fields: vec!["first".into()],
            normalize: Normalize::Exact,
        }],
    );
    rules
}

#[test]
fn form_rules_choose_the_fields() {
    let rules = person_by_first();
    let mut t = MemTenant::default();
    let mut b = batch(vec![
        ev(
            "e1",
            "a",
            "create-individual",
            json!({"entityName": "person", "first": "Ann", "age": 1}),
            1,
        ),
        ev(
            "e2",
            "b",
            "create-individual",
            json!({"entityName": "person", "first": "Ann", "age": 2}),
            2,
        ),
        ev(
            "e3",
            "c",
            "create-individual",
            json!({"entityName": "person", "first": "ann", "age": 1}),
            3,
        ),
    ]);
    b.rules = rules;
    push_in_tx(&mut t, &b).unwrap();
    assert_eq!(t.duplicates().len(), 1);
}

/// A group whose pushes ran under different duplicate rules (the config changed between
/// them) applies each push under its own rules, as one by one.
#[test]
fn a_group_applies_each_push_under_its_own_rules() {
    let person = |guid: &str, entity: &str, first: &str, ts: i64| {
        ev(
            guid,
            entity,
            "create-individual",
            json!({"entityName": "person", "first": first, "age": ts}),
            ts,
        )
    };
    let by_first = person_by_first();
    let mut first = batch(vec![person("e1", "a", "Ann", 1)]);
    first.rules = by_first.clone();
    let second = batch(vec![person("e2", "b", "Ann", 2)]);
    let mut third = batch(vec![person("e3", "c", "Ann", 3)]);
    third.rules = by_first;
    let pushes = [first, second, third];
    let mut alone = MemTenant::default();
    let outcomes: Vec<PushOutcome> = pushes
        .iter()
        .map(|b| push_in_tx(&mut alone, b).unwrap())
        .collect();
    let mut grouped = MemTenant::default();
    let group: Vec<&PushBatch> = pushes.iter().collect();
    assert_eq!(push_group_in_tx(&mut grouped, &group).unwrap(), outcomes);
    assert_eq!(grouped.events(), alone.events());
    assert_eq!(grouped.entities(), alone.entities());
    assert_eq!(grouped.duplicates(), alone.duplicates());
    // "a" and "c" share a match key under the form rule; "b" was keyed by the default rule.
    assert_eq!(grouped.duplicates().len(), 1);
}

// ---- convergence -------------------------------------------------------------------------

const GUIDS: [&str; 5] = ["a", "b", "c", "d", "e"];

fn arb_guid() -> impl Strategy<Value = &'static str> {
    prop::sample::select(GUIDS.to_vec())
}

/// An inline member: an individual, or a group with an inline member of its own.
fn arb_member() -> impl Strategy<Value = Value> {
    (arb_guid(), arb_guid(), 0u8..3).prop_map(|(g, nested, shape)| match shape {
        0 => json!({"guid": g, "name": format!("m{g}")}),
        1 => json!({"guid": g, "type": "group"}),
        _ => json!({"guid": g, "type": "group", "members": [{"guid": nested}]}),
    })
}

fn arb_event(i: usize) -> impl Strategy<Value = Event> {
    let members = prop::collection::vec(arb_member(), 0..3);
    let pairs = prop::collection::vec((arb_guid(), arb_guid()), 1..3);
    (
        arb_guid(),
        arb_guid(),
        1i64..5,
        0usize..10,
        0i64..3,
        members,
        pairs,
    )
        .prop_map(move |(g, o, ts, kind, v, members, pairs)| {
            let id = format!("ev{i:03}");
            let pairs: Vec<Value> = pairs
                .iter()
                .map(|(a, b)| json!({"entityGuid": a, "duplicateGuid": b}))
                .collect();
            match kind {
                0 => ev(
                    &id,
                    g,
                    "create-individual",
                    json!({"name": format!("n{v}"), "v": v}),
                    ts,
                ),
                1 => ev(&id, g, "update-individual", json!({"v": v}), ts),
                2 => ev(
                    &id,
                    g,
                    "create-group",
                    json!({"name": "g", "members": members}),
                    ts,
                ),
                3 => ev(
                    &id,
                    g,
                    "update-group",
                    json!({"v": v, "members": members}),
                    ts,
                ),
                4 => ev(&id, g, "add-member", json!({"members": members}), ts),
                5 => ev(&id, g, "remove-member", json!({"memberId": o}), ts),
                6 => ev(&id, g, "delete-entity", json!({"reason": v}), ts),
                7 => ev(
                    &id,
                    g,
                    "resolve-duplicate",
                    json!({"duplicates": pairs, "shouldDelete": v == 0}),
                    ts,
                ),
                8 => ev(&id, g, "custom.note", json!({"v": v, "memberId": o}), ts),
                // Odd payloads: members not an array, memberId a number.
                _ => ev(
                    &id,
                    g,
                    if v == 0 {
                        "add-member"
                    } else {
                        "remove-member"
                    },
                    json!({"members": o, "memberId": v}),
                    ts,
                ),
            }
        })
}

fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    (1usize..14).prop_flat_map(|n| (0..n).map(arb_event).collect::<Vec<_>>())
}

/// A deterministic permutation of `0..n` from a seed.
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed;
    for i in (1..order.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        order.swap(i, (s >> 33) as usize % (i + 1));
    }
    order
}

/// Pushes `events` in `order`, cut into batches at `cuts`, checking after every batch that
/// the state is the fold of what was pushed so far and that seqs stay consecutive.
fn push_in_batches(events: &[Event], order: &[usize], cuts: &[usize]) -> MemTenant {
    let mut t = MemTenant::default();
    let ordered: Vec<Event> = order.iter().map(|&i| events[i].clone()).collect();
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&ordered.len())) {
        let end = cut.clamp(start, ordered.len());
        if end > start {
            let mut next = t.clone();
            let out = push_in_tx(&mut next, &batch(ordered[start..end].to_vec())).unwrap();
            t = next;
            assert_eq!(out.head.0 as usize, t.events().len());
            assert!(t
                .events()
                .iter()
                .enumerate()
                .all(|(i, e)| e.seq.0 == i as i64 + 1));
            let pushed: Vec<Event> = t.events().iter().map(|s| s.event.clone()).collect();
            assert_eq!(
                states(&t),
                fold(&pushed),
                "after pushing {:?}",
                &ordered[..end]
            );
        }
        start = end;
    }
    t
}

/// `events` in `order`, cut at `cuts` into batches, then the first batch again (all
/// duplicates) and, when `conflict`, the first event with other data (a guid conflict);
/// each batch has its own pusher and receive time.
fn batches_of(events: &[Event], order: &[usize], cuts: &[usize], conflict: bool) -> Vec<PushBatch> {
    let ordered: Vec<Event> = order.iter().map(|&i| events[i].clone()).collect();
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    let mut batches = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&ordered.len())) {
        let end = cut.clamp(start, ordered.len());
        if end > start {
            batches.push(batch(ordered[start..end].to_vec()));
        }
        start = end;
    }
    if let Some(first) = batches.first().cloned() {
        batches.push(first);
    }
    if conflict {
        let mut changed = ordered[0].clone();
        changed.data.insert("conflict".into(), json!(true));
        batches.push(batch(vec![changed]));
    }
    // Each push its own pusher and receive time, stored with its events.
    for (i, b) in batches.iter_mut().enumerate() {
        b.pushed_by = Some(format!("u{i}"));
        b.received_at = Timestamp::from_millis(100 + i as i64).unwrap();
    }
    batches
}

/// A tenant that got `batches` one push at a time, and each push's outcome.
fn one_by_one(batches: &[PushBatch]) -> (MemTenant, Vec<PushOutcome>) {
    let mut alone = MemTenant::default();
    let outcomes = batches
        .iter()
        .map(|b| push_in_tx(&mut alone, b).unwrap())
        .collect();
    (alone, outcomes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every permutation and batching of the same set of events gives the state of the full
    /// fold in (timestamp, guid) order (and so does every prefix pushed on the way).
    #[test]
    fn convergence(
        events in arb_events(),
        shuffle_a in any::<u64>(),
        shuffle_b in any::<u64>(),
        cuts_a in prop::collection::vec(0usize..14, 0..4),
        cuts_b in prop::collection::vec(0usize..14, 0..4),
    ) {
        let expected = fold(&events);
        let a = push_in_batches(&events, &permutation(events.len(), shuffle_a), &cuts_a);
        let b = push_in_batches(&events, &permutation(events.len(), shuffle_b), &cuts_b);
        prop_assert_eq!(states(&a), expected.clone());
        prop_assert_eq!(states(&b), expected);
        // Match keys are a function of the state too.
        prop_assert_eq!(a.entities(), b.entities());
    }

    /// A group commit gives every push the outcome it gets alone, stores the same events
    /// under the same seqs and leaves the same entities; its duplicate pairs are those of
    /// the group's events pushed as one batch.
    #[test]
    fn a_group_commits_what_its_pushes_commit_one_by_one(
        events in arb_events(),
        shuffle in any::<u64>(),
        cuts in prop::collection::vec(0usize..14, 0..4),
        conflict in any::<bool>(),
    ) {
        let batches = batches_of(&events, &permutation(events.len(), shuffle), &cuts, conflict);
        let (alone, outcomes) = one_by_one(&batches);
        let mut grouped = MemTenant::default();
        let group: Vec<&PushBatch> = batches.iter().collect();
        prop_assert_eq!(push_group_in_tx(&mut grouped, &group).unwrap(), outcomes);
        prop_assert_eq!(grouped.events(), alone.events());
        prop_assert_eq!(grouped.entities(), alone.entities());
        let mut single = MemTenant::default();
        push_in_tx(&mut single, &batch(batches.iter().flat_map(|b| b.events.clone()).collect()))
            .unwrap();
        prop_assert_eq!(grouped.duplicates(), single.duplicates());
    }

    /// Storing pushes and applying their events later, in stretches cut anywhere (as a store
    /// with a separate apply stage does), leaves the events and entities that pushing them
    /// one by one leaves.
    #[test]
    fn stored_then_applied_in_any_stretches_is_pushed_one_by_one(
        events in arb_events(),
        shuffle in any::<u64>(),
        cuts in prop::collection::vec(0usize..14, 0..4),
        stretches in prop::collection::vec(0usize..16, 0..4),
        conflict in any::<bool>(),
    ) {
        let batches = batches_of(&events, &permutation(events.len(), shuffle), &cuts, conflict);
        let (alone, outcomes) = one_by_one(&batches);
        let mut split = MemTenant::default();
        let stored: Vec<StoredPush> = batches
            .iter()
            .map(|b| store_group_in_tx(&mut split, &[b]).unwrap().remove(0))
            .collect();
        prop_assert_eq!(stored.iter().map(|s| s.outcome.clone()).collect::<Vec<_>>(), outcomes);
        prop_assert_eq!(split.events(), alone.events());
        // `new` names each push's stored events, in sequence order.
        let named: Vec<&Event> = stored
            .iter()
            .zip(&batches)
            .flat_map(|(s, b)| s.new.iter().map(|&i| &b.events[i]))
            .collect();
        let kept: Vec<&Event> = split.events().iter().map(|s| &s.event).collect();
        prop_assert_eq!(named, kept);
        let all: Vec<Event> = split.events().iter().map(|s| s.event.clone()).collect();
        let mut ends = stretches;
        ends.push(all.len());
        ends.sort_unstable();
        let mut done = 0;
        for end in ends.into_iter().map(|e| e.min(all.len())) {
            if end > done {
                let stretch: Vec<&Event> = all[done..end].iter().collect();
                apply_in_tx(&mut split, Seq(done as i64), &stretch, &DuplicateRules::default())
                    .unwrap();
                done = end;
            }
        }
        prop_assert_eq!(split.entities(), alone.entities());
    }

    /// Appliers and the push never panic, whatever the data, and still converge.
    #[test]
    fn never_panics_on_arbitrary_data(
        events in prop::collection::vec(
            (
                prop::collection::btree_map("(members|memberId|duplicates|shouldDelete|name|type|[a-z]{1,3})", arb_json(), 1..4),
                prop::sample::select(vec!["create-individual", "update-individual", "create-group", "update-group", "add-member", "remove-member", "delete-entity", "resolve-duplicate", "x"]),
                arb_guid(),
                1i64..3,
            ),
            1..6,
        ),
        shuffle in any::<u64>(),
    ) {
        let events: Vec<Event> = events
            .into_iter()
            .enumerate()
            .map(|(i, (data, ty, g, ts))| {
                ev(&format!("e{i}"), g, ty, Value::Object(data.into_iter().collect()), ts)
            })
            .collect();
        let mut all = vec![ev("c", "a", "create-group", json!({"members": [{"guid": "b"}, {"guid": "c", "type": "group", "members": [{"guid": "d"}]}]}), 0)];
        all.extend(events);
        let expected = fold(&all);
        let t = push_in_batches(&all, &permutation(all.len(), shuffle), &[1, 3]);
        prop_assert_eq!(states(&t), expected);
    }
}

/// Arbitrary JSON whose strings are often entity guids, so odd payloads still link entities.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (0i64..3).prop_map(|n| json!(n)),
        "[a-e]|group|[a-z0-9]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                "(guid|members|memberId|type|entityGuid|duplicateGuid|name|[a-z]{1,4})",
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

// ---- work stays within the component -------------------------------------------------------

/// A transaction that records which guids the algorithm asked about.
struct Spy<'a> {
    inner: &'a mut MemTenant,
    loaded: BTreeSet<String>,
    load_calls: usize,
    referencing: BTreeSet<String>,
    referencing_calls: usize,
}

impl<'a> Spy<'a> {
    fn new(inner: &'a mut MemTenant) -> Self {
        Spy {
            inner,
            loaded: BTreeSet::new(),
            load_calls: 0,
            referencing: BTreeSet::new(),
            referencing_calls: 0,
        }
    }

    fn asked(&self) -> BTreeSet<String> {
        self.loaded.union(&self.referencing).cloned().collect()
    }
}

impl EntityTx for Spy<'_> {
    fn load_entities(&mut self, guids: &[String]) -> Result<Vec<EntityRecord>, StoreError> {
        self.load_calls += 1;
        self.loaded.extend(guids.iter().cloned());
        self.inner.load_entities(guids)
    }
    fn events_referencing(
        &mut self,
        guids: &[String],
        up_to: Option<Seq>,
    ) -> Result<Vec<Event>, StoreError> {
        self.referencing_calls += 1;
        self.referencing.extend(guids.iter().cloned());
        self.inner.events_referencing(guids, up_to)
    }
    fn save_entities(&mut self, records: &[EntityRecord]) -> Result<(), StoreError> {
        self.inner.save_entities(records)
    }
    fn delete_entities(&mut self, guids: &[String]) -> Result<(), StoreError> {
        self.inner.delete_entities(guids)
    }
    fn entities_with_match_key(
        &mut self,
        key: &str,
        except: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.entities_with_match_key(key, except, limit)
    }
    fn flag_duplicate(&mut self, a: &str, b: &str, key: &str) -> Result<(), StoreError> {
        self.inner.flag_duplicate(a, b, key)
    }
    fn remove_duplicate(&mut self, a: &str, b: &str) -> Result<(), StoreError> {
        self.inner.remove_duplicate(a, b)
    }
    fn remove_duplicates_of(&mut self, guid: &str) -> Result<(), StoreError> {
        self.inner.remove_duplicates_of(guid)
    }
}

impl PushTx for Spy<'_> {
    fn head(&mut self) -> Result<Seq, StoreError> {
        self.inner.head()
    }
    fn existing_hashes(
        &mut self,
        guids: &[String],
    ) -> Result<HashMap<String, ContentHash>, StoreError> {
        self.inner.existing_hashes(guids)
    }
    fn insert_events(&mut self, events: &[NewEvent<'_>]) -> Result<(), StoreError> {
        self.inner.insert_events(events)
    }
    fn quarantine(
        &mut self,
        rejected: &[(Value, Rejection)],
        received_at: Timestamp,
        pushed_by: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.quarantine(rejected, received_at, pushed_by)
    }
}

/// A tenant of 50 households `h{i}` with members `h{i}m0`, `h{i}m1`, created at time 100.
fn big_tenant() -> MemTenant {
    let mut t = MemTenant::default();
    let events: Vec<Event> = (0..50)
        .map(|i| {
            ev(
                &format!("c{i}"),
                &format!("h{i}"),
                "create-group",
                json!({"members": [{"guid": format!("h{i}m0")}, {"guid": format!("h{i}m1")}]}),
                100,
            )
        })
        .collect();
    push(&mut t, events);
    t
}

fn in_household(asked: &BTreeSet<String>, h: &str) -> bool {
    asked
        .iter()
        .all(|g| g.starts_with(h) && !g[h.len()..].starts_with(char::is_numeric))
}

#[test]
fn in_order_events_read_only_what_they_touch_with_one_load() {
    let mut t = big_tenant();
    let mut spy = Spy::new(&mut t);
    push_in_tx(
        &mut spy,
        &batch(vec![
            ev("u1", "h7m0", "update-individual", json!({"x": 1}), 200),
            ev("u2", "h7", "delete-entity", json!({"r": 1}), 201),
        ]),
    )
    .unwrap();
    assert_eq!(
        spy.load_calls, 2,
        "the batch's refs in one call, the cascade's members in one more"
    );
    assert_eq!(spy.referencing_calls, 0, "no recompute, no absent entity");
    assert!(in_household(&spy.asked(), "h7"), "{:?}", spy.asked());
    assert!(t.entities()["h7m1"].deleted);
}

#[test]
fn a_late_event_recomputes_only_its_component() {
    let mut t = big_tenant();
    let mut spy = Spy::new(&mut t);
    push_in_tx(
        &mut spy,
        &batch(vec![ev("d", "h3", "delete-entity", json!({"r": 1}), 50)]),
    )
    .unwrap();
    assert!(spy.referencing_calls >= 1);
    assert!(in_household(&spy.asked(), "h3"), "{:?}", spy.asked());
    let all: Vec<Event> = t.events().iter().map(|e| e.event.clone()).collect();
    assert_eq!(states(&t), fold(&all));
    // The delete came before the household existed: it changed nothing.
    assert!(!t.entities()["h3"].deleted);
    assert_eq!(t.entities()["h3"].entity.member_ids, ["h3m0", "h3m1"]);
    assert_eq!(t.entities()["h3"].last_key.guid, "c3");
}

#[test]
fn a_batch_of_late_events_recomputes_a_component_once() {
    let mut t = MemTenant::default();
    push(
        &mut t,
        vec![ev("new", "p", "update-individual", json!({"v": 100}), 100)],
    );
    let late: Vec<Event> = (0..40)
        .map(|i| {
            ev(
                &format!("l{i:02}"),
                "p",
                "update-individual",
                json!({"v": i}),
                i,
            )
        })
        .collect();
    let mut spy = Spy::new(&mut t);
    let out = push_in_tx(&mut spy, &batch(late.clone())).unwrap();
    assert_eq!(out.applied, 40);
    assert_eq!(
        spy.referencing_calls, 1,
        "one closure query, then the whole batch is folded"
    );
    let p = &t.entities()["p"];
    assert_eq!(p.entity.data["v"], 100, "the newest edit wins");
    assert_eq!(p.entity.version, 41);
    let mut all = late;
    all.push(ev("new", "p", "update-individual", json!({"v": 100}), 100));
    assert_eq!(states(&t), fold(&all));
}
