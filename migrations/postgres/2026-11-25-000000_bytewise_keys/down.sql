ALTER TABLE events
    ALTER COLUMN tenant_id TYPE TEXT COLLATE "default",
    ALTER COLUMN guid TYPE TEXT COLLATE "default",
    ALTER COLUMN type TYPE TEXT COLLATE "default";
ALTER TABLE event_refs
    ALTER COLUMN tenant_id TYPE TEXT COLLATE "default",
    ALTER COLUMN entity_guid TYPE TEXT COLLATE "default";
ALTER TABLE entities
    ALTER COLUMN tenant_id TYPE TEXT COLLATE "default",
    ALTER COLUMN guid TYPE TEXT COLLATE "default",
    ALTER COLUMN match_key TYPE TEXT COLLATE "default";
