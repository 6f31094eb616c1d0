CREATE TABLE event_refs_by_guid (
    tenant_id TEXT NOT NULL,
    entity_guid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, entity_guid, seq)
) WITHOUT ROWID;
INSERT INTO event_refs_by_guid (tenant_id, entity_guid, seq)
    SELECT k.tenant_id, k.guid, r.seq FROM event_refs r JOIN entity_keys k ON k.id = r.entity_id;
DROP TABLE event_refs;
ALTER TABLE event_refs_by_guid RENAME TO event_refs;

CREATE TABLE entities_by_guid (
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
INSERT INTO entities_by_guid (tenant_id, guid, kind, name, version, data, member_ids,
        parent_ids, external_id, entity_name, last_updated, last_key_ts, last_key_guid,
        deleted, match_key)
    SELECT tenant_id, guid, kind, name, version, data, member_ids, parent_ids, external_id,
        entity_name, last_updated, last_key_ts, last_key_guid, deleted, match_key
    FROM entities;
DROP TABLE entities;
ALTER TABLE entities_by_guid RENAME TO entities;
CREATE INDEX entities_match ON entities (tenant_id, match_key)
    WHERE match_key IS NOT NULL AND deleted = 0;
CREATE INDEX entities_recent ON entities (tenant_id, deleted, last_updated DESC, guid);
CREATE INDEX entities_form ON entities (tenant_id, entity_name, deleted, last_updated DESC, guid);

DROP TABLE entity_keys;
