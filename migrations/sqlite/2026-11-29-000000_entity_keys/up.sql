-- Entities and event refs keyed by a small sequential id instead of the random entity guid.
--
-- Every entity guid a tenant's events reference (an event's own entityGuid, a parentGuid, a
-- member) gets an id from `entity_keys` the first time it is seen. `entity_keys` is the one
-- B-tree keyed by the random guid; `entities` (rowid = that id) and `event_refs`
-- (entity id, seq) are keyed by ids handed out in the order guids appear, so a push appends
-- to their recent pages instead of dirtying one random leaf page per entity and per ref
-- (one 4 KiB WAL frame each at commit). See docs/benchmarks.md. (The guids already stored
-- get their ids here in guid order, not in the order they appeared.)
-- AUTOINCREMENT: an id is never handed out again, not even after the tenant holding the
-- highest ids is purged, so a row left behind could never attach to another entity.

CREATE TABLE entity_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    UNIQUE (tenant_id, guid)
);
-- (Refs of a tenant without a config, left by nothing the server does, are not carried over.)
INSERT INTO entity_keys (tenant_id, guid)
    SELECT tenant_id, guid FROM entities
    UNION
    SELECT tenant_id, entity_guid FROM event_refs WHERE tenant_id IN (SELECT id FROM configs);

CREATE TABLE entities_by_id (
    id INTEGER PRIMARY KEY NOT NULL,
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
    match_key TEXT NULL
);
INSERT INTO entities_by_id (id, tenant_id, guid, kind, name, version, data, member_ids,
        parent_ids, external_id, entity_name, last_updated, last_key_ts, last_key_guid,
        deleted, match_key)
    SELECT k.id, e.tenant_id, e.guid, e.kind, e.name, e.version, e.data, e.member_ids,
        e.parent_ids, e.external_id, e.entity_name, e.last_updated, e.last_key_ts,
        e.last_key_guid, e.deleted, e.match_key
    FROM entities e JOIN entity_keys k ON k.tenant_id = e.tenant_id AND k.guid = e.guid;
DROP TABLE entities;
ALTER TABLE entities_by_id RENAME TO entities;
-- Queries repeat the literal `deleted = 0` so SQLite can use this partial index.
CREATE INDEX entities_match ON entities (tenant_id, match_key)
    WHERE match_key IS NOT NULL AND deleted = 0;
CREATE INDEX entities_recent ON entities (tenant_id, deleted, last_updated DESC, guid);
-- Count-by-form is an index-only scan; a listing filtered by form reads it in list order.
CREATE INDEX entities_form ON entities (tenant_id, entity_name, deleted, last_updated DESC, guid);

-- Every event has a ref to its own entity; an entity's events are its refs' seqs.
CREATE TABLE event_refs_by_id (
    entity_id INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (entity_id, seq)
) WITHOUT ROWID;
INSERT INTO event_refs_by_id (entity_id, seq)
    SELECT k.id, r.seq
    FROM event_refs r JOIN entity_keys k ON k.tenant_id = r.tenant_id AND k.guid = r.entity_guid;
DROP TABLE event_refs;
ALTER TABLE event_refs_by_id RENAME TO event_refs;
