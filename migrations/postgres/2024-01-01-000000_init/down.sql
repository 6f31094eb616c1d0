-- Reverts 2024-01-01-000000_init: drops every table it created (dependents first).
DROP TABLE IF EXISTS users_sessions;
DROP TABLE IF EXISTS users_records;
DROP TABLE IF EXISTS users_schemas;
DROP TABLE IF EXISTS users_apps;
DROP TABLE IF EXISTS audit_log;
DROP TABLE IF EXISTS login_failures;
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS quarantine;
DROP TABLE IF EXISTS duplicate_keep_both;
DROP TABLE IF EXISTS potential_duplicates;
DROP TABLE IF EXISTS entities;
DROP TABLE IF EXISTS event_refs;
DROP TABLE IF EXISTS events;
DROP TABLE IF EXISTS configs;
