-- The key columns a push compares in its B-trees compare bytewise (collation "C").
--
-- Under the database's default collation (commonly a libc `*.UTF-8` one) every comparison
-- of two texts in an index goes through the collation (`varstr_cmp` copies both strings and
-- calls `strcoll`), and a push's database work is mostly such comparisons: inserting into
-- and probing the events' guid key and type index, `event_refs`, the entities' key and match
-- key. Bytewise, a comparison is a `memcmp`. These columns hold tenant ids, guids, event
-- types and hex match keys, compared for equality or ordered only as the domain orders them
-- (by bytes, as Rust compares strings). Measured: 300,000-event pushes +10-15 %
-- (docs/benchmarks.md). Only the indexes on these columns are rebuilt; no table is
-- rewritten.
ALTER TABLE events
    ALTER COLUMN tenant_id TYPE TEXT COLLATE "C",
    ALTER COLUMN guid TYPE TEXT COLLATE "C",
    ALTER COLUMN type TYPE TEXT COLLATE "C";
ALTER TABLE event_refs
    ALTER COLUMN tenant_id TYPE TEXT COLLATE "C",
    ALTER COLUMN entity_guid TYPE TEXT COLLATE "C";
ALTER TABLE entities
    ALTER COLUMN tenant_id TYPE TEXT COLLATE "C",
    ALTER COLUMN guid TYPE TEXT COLLATE "C",
    ALTER COLUMN match_key TYPE TEXT COLLATE "C";
