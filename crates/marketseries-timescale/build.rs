//! Rebuilds the crate when a migration is added or changed: `embed_migrations!` reads
//! `migrations/timescaledb` when the crate compiles but tells cargo only about the files it found
//! then, so a new migration directory alone did not rebuild it.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/timescaledb");
}
