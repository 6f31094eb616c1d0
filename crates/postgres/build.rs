//! Rebuilds this crate when a migration changes: `embed_migrations!` reads the migrations
//! directory at compile time, and cargo does not watch that directory by itself.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations/postgres");
}
