-- The last sequence number of every purged tenant id. A config created again under that id
-- continues its sequence after it: devices may still hold cursors from before the purge, and
-- a sequence restarting at 1 would make them skip the new tenant's first events.
CREATE TABLE retired_heads (
    id TEXT PRIMARY KEY NOT NULL,
    head BIGINT NOT NULL
);
