ALTER TABLE potential_duplicates
    ALTER COLUMN entity_guid TYPE TEXT COLLATE "default",
    ALTER COLUMN duplicate_guid TYPE TEXT COLLATE "default";
ALTER TABLE duplicate_keep_both
    ALTER COLUMN entity_guid TYPE TEXT COLLATE "default",
    ALTER COLUMN duplicate_guid TYPE TEXT COLLATE "default";
