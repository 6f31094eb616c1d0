-- Initial schema of the SQLite adapter (see notes in crates/sqlite/src/lib.rs).
-- Instants are BIGINT milliseconds since the epoch, JSON is TEXT, booleans are INTEGER 0/1.

CREATE TABLE configs (
    id TEXT PRIMARY KEY NOT NULL,
    artifact_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '',
    document TEXT NOT NULL,
    head BIGINT NOT NULL DEFAULT 0,
    archived_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE events (
    tenant_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    guid TEXT NOT NULL,
    entity_guid TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    ts BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    user_id_numeric INTEGER NOT NULL,
    sync_level SMALLINT NOT NULL,
    content_hash TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    pushed_by TEXT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, guid)
);
CREATE INDEX events_ts ON events (tenant_id, ts, seq);
CREATE INDEX events_entity ON events (tenant_id, entity_guid, ts, guid);
CREATE INDEX events_type ON events (tenant_id, type, seq);

CREATE TABLE event_refs (
    tenant_id TEXT NOT NULL,
    entity_guid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, entity_guid, seq)
) WITHOUT ROWID;

CREATE TABLE entities (
    tenant_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    data TEXT NOT NULL,
    member_ids TEXT NOT NULL,
    parent_ids TEXT NOT NULL,
    external_id TEXT NULL,
    entity_name TEXT NULL,
    last_updated BIGINT NOT NULL,
    last_key_ts BIGINT NOT NULL,
    last_key_guid TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    match_key TEXT NULL,
    PRIMARY KEY (tenant_id, guid)
);
-- Queries repeat the literal `deleted = 0` so SQLite can use this partial index.
CREATE INDEX entities_match ON entities (tenant_id, match_key)
    WHERE match_key IS NOT NULL AND deleted = 0;
CREATE INDEX entities_recent ON entities (tenant_id, deleted, last_updated DESC, guid);
-- Count-by-form is an index-only scan; a listing filtered by form reads it in list order.
CREATE INDEX entities_form ON entities (tenant_id, entity_name, deleted, last_updated DESC, guid);

CREATE TABLE potential_duplicates (
    tenant_id TEXT NOT NULL,
    entity_guid TEXT NOT NULL,
    duplicate_guid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, entity_guid, duplicate_guid)
) WITHOUT ROWID;
CREATE INDEX potential_duplicates_dup ON potential_duplicates (tenant_id, duplicate_guid);

CREATE TABLE duplicate_keep_both (
    tenant_id TEXT NOT NULL,
    entity_guid TEXT NOT NULL,
    duplicate_guid TEXT NOT NULL,
    match_key TEXT NOT NULL,
    PRIMARY KEY (tenant_id, entity_guid, duplicate_guid)
) WITHOUT ROWID;

CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    raw TEXT NOT NULL,
    code TEXT NOT NULL,
    error TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    pushed_by TEXT NULL
);
CREATE INDEX quarantine_tenant ON quarantine (tenant_id, id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant_ids TEXT NOT NULL,
    role_assignments TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NULL,
    revoked_at BIGINT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    ts BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    action TEXT NOT NULL,
    event_guid TEXT NOT NULL,
    entity_guid TEXT NOT NULL,
    changes TEXT NOT NULL,
    signature TEXT NOT NULL,
    UNIQUE (tenant_id, guid)
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

CREATE TABLE users_apps (
    source_app_id TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users_schemas (
    source_app_id TEXT NOT NULL REFERENCES users_apps(source_app_id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    reject_unknown INTEGER NOT NULL,
    fields TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (source_app_id, version)
);

CREATE TABLE users_records (
    id TEXT PRIMARY KEY NOT NULL,
    source_app_id TEXT NOT NULL REFERENCES users_apps(source_app_id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    data TEXT NOT NULL,
    schema_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (source_app_id, email)
);
CREATE INDEX users_records_app_recent ON users_records (source_app_id, created_at DESC, id DESC);
CREATE INDEX users_records_recent ON users_records (created_at DESC, id DESC);

CREATE TABLE users_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    source_app_id TEXT NOT NULL REFERENCES users_apps(source_app_id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Lets the cascade from users_apps find an app's sessions without a scan.
CREATE INDEX users_sessions_app ON users_sessions (source_app_id);
