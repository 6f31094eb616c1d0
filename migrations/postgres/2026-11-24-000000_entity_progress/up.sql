-- A tenant's pushed events are applied to its entities in a transaction of their own, after
-- the transaction that stored them (see crates/postgres/src/apply_stage.rs): how far each
-- tenant's entities are applied. Every event stored before this migration was applied in
-- its push's transaction.
CREATE TABLE entity_progress (
    tenant_id TEXT PRIMARY KEY REFERENCES configs(id) ON DELETE CASCADE,
    applied BIGINT NOT NULL
);
INSERT INTO entity_progress (tenant_id, applied) SELECT id, head FROM configs;
