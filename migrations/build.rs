//! Rebuild when a migration is added or edited: `embed_migrations!` reads `sql/` at compile
//! time, and cargo does not watch that folder on its own.
fn main() {
    println!("cargo:rerun-if-changed=sql");
}
