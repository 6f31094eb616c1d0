ALTER TABLE events DROP COLUMN data_bytes;
