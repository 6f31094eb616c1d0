CREATE INDEX events_entity ON events (tenant_id, entity_guid, ts, guid);
