//! Conformance suite of the storage ports: one async function per guarantee of the port
//! documentation in [`domain::ports`], each taking a fresh [`domain::ports::Stores`] and asserting exact
//! values. Every backend runs all of them through [`conformance_suite!`]:
//!
//! ```text
//! async fn fresh() -> (domain::ports::Stores, MyGuard) { /* empty store + its guard */ }
//! store_tests::conformance_suite!(fresh);
//! ```
//!
//! The helpers ([`fixtures`], [`configs::audit_entry`], [`accounts::new_user`], …) are public
//! so adapter tests can build the same data.

// This crate is a test suite: a failed unwrap or assertion is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod accounts;
pub mod audit;
pub mod concurrency;
pub mod configs;
pub mod entities;
pub mod events;
pub mod fixtures;
pub mod users_api;

pub use accounts::{
    a_password_change_ends_the_users_sessions_only, a_password_reset_racing_logins_leaves_no_token,
    concurrent_admin_removals_leave_an_admin, delete_user_removes_refresh_tokens,
    expired_refresh_tokens_are_deleted, login_throttle_forgets_old_failures, login_throttle_window,
    refresh_concurrent_use_is_single, refresh_single_use_and_reuse_revokes_family,
    refresh_tokens_are_stored_only_for_the_current_password,
    replace_password_hash_only_if_unchanged, update_user_writes_only_the_members_it_sets,
    users_crud_and_email_conflict,
};
pub use audit::audit_idempotent_and_paginated;
pub use concurrency::concurrent_push_and_pull_never_skips;
pub use configs::{
    config_crud_archive_and_artifact, list_configs_search_sort_and_paging,
    purge_deletes_tenant_rows, purge_takes_the_tenant_out_of_user_grants, tenant_isolation,
};
pub use entities::{
    duplicates_flagged_and_keep_both_remembered, entity_list_order_filters_and_counts,
    get_entities_reads_live_ones_of_the_tenant, late_event_recomputes_entity,
    search_entities_binds_values,
};
pub use events::{
    entity_events_in_application_order, first_seq_at_or_after_serves_legacy_since,
    list_events_filters_in_seq_order, pull_after_cursor_in_seq_order_with_limit,
    pull_pages_are_bounded_by_data_bytes, push_assigns_consecutive_seqs,
    push_is_idempotent_for_same_content, push_quarantines_rejected, push_rejects_guid_conflict,
    push_unknown_tenant_is_not_found,
};
pub use users_api::{
    delete_app_cascades, expired_sessions_are_deleted, schema_versions_increment, session_expiry,
    users_api_apps_crud, users_api_concurrent_upserts_make_one_record, users_api_upsert_keeps_id,
};

/// The runtime the generated tests use (re-exported so adapter crates need no direct
/// dependency for the macro).
pub use tokio;

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per clause
/// of the suite. `$factory` is a path to an `async fn() -> (Stores, G)`: a fresh, empty
/// store and a guard `G` kept alive until the test ends (a temporary directory, a schema
/// to drop, `()`). The calling crate must name this crate `store_tests` (the default for a
/// `store-tests` dependency).
#[macro_export]
macro_rules! conformance_suite {
    ($factory:path) => {
        $crate::conformance_suite!(@clauses $factory;
            push_assigns_consecutive_seqs,
            push_is_idempotent_for_same_content,
            push_rejects_guid_conflict,
            push_quarantines_rejected,
            push_unknown_tenant_is_not_found,
            pull_after_cursor_in_seq_order_with_limit,
            pull_pages_are_bounded_by_data_bytes,
            first_seq_at_or_after_serves_legacy_since,
            list_events_filters_in_seq_order,
            entity_events_in_application_order,
            late_event_recomputes_entity,
            get_entities_reads_live_ones_of_the_tenant,
            entity_list_order_filters_and_counts,
            search_entities_binds_values,
            duplicates_flagged_and_keep_both_remembered,
            config_crud_archive_and_artifact,
            list_configs_search_sort_and_paging,
            purge_deletes_tenant_rows,
            purge_takes_the_tenant_out_of_user_grants,
            tenant_isolation,
            users_crud_and_email_conflict,
            update_user_writes_only_the_members_it_sets,
            refresh_single_use_and_reuse_revokes_family,
            refresh_concurrent_use_is_single,
            delete_user_removes_refresh_tokens,
            concurrent_admin_removals_leave_an_admin,
            replace_password_hash_only_if_unchanged,
            refresh_tokens_are_stored_only_for_the_current_password,
            a_password_reset_racing_logins_leaves_no_token,
            a_password_change_ends_the_users_sessions_only,
            expired_refresh_tokens_are_deleted,
            login_throttle_window,
            login_throttle_forgets_old_failures,
            audit_idempotent_and_paginated,
            users_api_apps_crud,
            schema_versions_increment,
            users_api_upsert_keeps_id,
            users_api_concurrent_upserts_make_one_record,
            delete_app_cascades,
            session_expiry,
            expired_sessions_are_deleted,
            concurrent_push_and_pull_never_skips,
        );
    };
    (@clauses $factory:path; $($clause:ident),* $(,)?) => {
        $(
            #[$crate::tokio::test(
                flavor = "multi_thread",
                worker_threads = 4,
                crate = "::store_tests::tokio"
            )]
            async fn $clause() {
                let (stores, _guard) = $factory().await;
                $crate::$clause(&stores).await;
            }
        )*
    };
}
