-- Fails on rows whose JSON text holds \u0000 (JSONB cannot store them).
ALTER TABLE quarantine ALTER COLUMN raw TYPE JSONB USING raw::jsonb;
