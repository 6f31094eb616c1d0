//! Diesel table definitions matching `migrations/postgres` (typed inserts and simple reads).

diesel::table! {
    configs (id) {
        id -> Text,
        artifact_id -> Text,
        name -> Text,
        version -> Text,
        document -> Jsonb,
        head -> BigInt,
        archived_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    events (tenant_id, seq) {
        tenant_id -> Text,
        seq -> BigInt,
        guid -> Text,
        entity_guid -> Text,
        #[sql_name = "type"]
        event_type -> Text,
        data -> Jsonb,
        ts -> BigInt,
        user_id -> Text,
        user_id_numeric -> Bool,
        sync_level -> SmallInt,
        content_hash -> Text,
        received_at -> BigInt,
        pushed_by -> Nullable<Text>,
        data_bytes -> Nullable<Integer>,
    }
}

diesel::table! {
    event_refs (tenant_id, entity_guid, seq) {
        tenant_id -> Text,
        entity_guid -> Text,
        seq -> BigInt,
    }
}

diesel::table! {
    entities (tenant_id, guid) {
        tenant_id -> Text,
        guid -> Text,
        kind -> Text,
        name -> Text,
        version -> BigInt,
        data -> Jsonb,
        member_ids -> Jsonb,
        parent_ids -> Jsonb,
        external_id -> Nullable<Text>,
        entity_name -> Nullable<Text>,
        last_updated -> BigInt,
        last_key_ts -> BigInt,
        last_key_guid -> Text,
        deleted -> Bool,
        match_key -> Nullable<Text>,
    }
}

diesel::table! {
    potential_duplicates (tenant_id, entity_guid, duplicate_guid) {
        tenant_id -> Text,
        entity_guid -> Text,
        duplicate_guid -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    duplicate_keep_both (tenant_id, entity_guid, duplicate_guid) {
        tenant_id -> Text,
        entity_guid -> Text,
        duplicate_guid -> Text,
        match_key -> Text,
    }
}

diesel::table! {
    quarantine (id) {
        id -> BigInt,
        tenant_id -> Text,
        raw -> Text,
        code -> Text,
        error -> Text,
        received_at -> BigInt,
        pushed_by -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        tenant_ids -> Jsonb,
        role_assignments -> Jsonb,
        created_at -> BigInt,
        password_changed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        family_id -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        key -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        tenant_id -> Text,
        guid -> Text,
        ts -> BigInt,
        user_id -> Text,
        action -> Text,
        event_guid -> Text,
        entity_guid -> Text,
        changes -> Jsonb,
        signature -> Text,
    }
}

diesel::table! {
    users_apps (source_app_id) {
        source_app_id -> Text,
        role -> Text,
        password_hash -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    users_schemas (source_app_id, version) {
        source_app_id -> Text,
        version -> BigInt,
        reject_unknown -> Bool,
        fields -> Jsonb,
        created_at -> BigInt,
    }
}

diesel::table! {
    users_records (id) {
        id -> Text,
        source_app_id -> Text,
        email -> Text,
        data -> Jsonb,
        schema_version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    users_sessions (token_hash) {
        token_hash -> Text,
        source_app_id -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::joinable!(events -> configs (tenant_id));
diesel::joinable!(entities -> configs (tenant_id));
diesel::allow_tables_to_appear_in_same_query!(configs, events, event_refs, entities);
