-- An entity's events are found through event_refs (every event has a ref to its own
-- entityGuid), so this second index keyed by random entity guids is dropped: one B-tree
-- page fewer written per pushed event (as in the SQLite adapter).
DROP INDEX events_entity;
