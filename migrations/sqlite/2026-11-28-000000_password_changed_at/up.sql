-- When an account change last set the user's password (milliseconds; NULL: never since the
-- account was created). Access tokens issued before that second are refused: a password
-- reset ends the sessions opened with the old password at once, not when their access
-- tokens expire. A login's re-hash of the same password does not set it.
ALTER TABLE users ADD COLUMN password_changed_at BIGINT NULL;
