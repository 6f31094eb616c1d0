ALTER TABLE entities ADD CONSTRAINT entities_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES configs(id) ON DELETE CASCADE;
ALTER TABLE event_refs ADD CONSTRAINT event_refs_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES configs(id) ON DELETE CASCADE;
ALTER TABLE events ADD CONSTRAINT events_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES configs(id) ON DELETE CASCADE;
CREATE INDEX events_entity ON events (tenant_id, entity_guid, ts, guid);
