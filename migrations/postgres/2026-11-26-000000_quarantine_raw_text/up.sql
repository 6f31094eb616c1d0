-- A quarantined event is kept exactly as the device sent it (SPEC §3.2), and an event is
-- often quarantined precisely because its data holds a NUL character, which JSONB cannot
-- store ("unsupported Unicode escape sequence"): the whole push then failed, on every retry.
-- The raw event is kept as its JSON text instead (NUL escaped as \u0000), as on SQLite.
ALTER TABLE quarantine ALTER COLUMN raw TYPE TEXT USING raw::text;
