-- Potential-duplicate pairs are listed in (entity_guid, duplicate_guid) order, paged by
-- offset. Under the database's default collation that order depended on the locale
-- (`en_US.UTF-8` puts "pa" before "Pb") while SQLite and the domain order guids by bytes,
-- so pages differed between backends. Bytewise like the other guid columns
-- (`bytewise_keys`); only the key indexes of these small tables are rebuilt.
ALTER TABLE potential_duplicates
    ALTER COLUMN entity_guid TYPE TEXT COLLATE "C",
    ALTER COLUMN duplicate_guid TYPE TEXT COLLATE "C";
ALTER TABLE duplicate_keep_both
    ALTER COLUMN entity_guid TYPE TEXT COLLATE "C",
    ALTER COLUMN duplicate_guid TYPE TEXT COLLATE "C";
