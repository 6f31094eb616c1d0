# Common tasks. `just` is optional: each recipe is one plain command.

# Start the server (SQLite under data/, first admin printed once).
run:
    cargo run

# The whole test suite (what CI runs).
test:
    scripts/test

# Benchmarks against a release build on SQLite and PostgreSQL.
bench:
    scripts/bench

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Rewrite openapi/openapi.json from the code (a test fails while it is stale).
openapi:
    cargo run -q -- openapi > openapi/openapi.json
