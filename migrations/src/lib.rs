//! All DDL of MR Ledger, as refinery migrations embedded in the binaries.
//!
//! Layout:
//! - `sql/V1__event_store.sql`: events (append-only, hash-chained), snapshots, idempotency
//!   rows, the encrypted credential store.
//! - `sql/V2__read_models.sql`: `mr_create_read_schema(name)`, the one definition of the read
//!   tables, and the live `read` schema.

mod embedded {
    refinery::embed_migrations!("sql");
}

/// Name of the live read-model schema.
pub const READ_SCHEMA: &str = "read";

/// Advisory lock key that serialises concurrent migrators (several services starting together).
const MIGRATION_LOCK: i64 = 7_262_736_501;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Applies every pending migration; safe to call from several processes at once.
pub async fn run(client: &mut tokio_postgres::Client) -> Result<(), Error> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = embedded::migrations::runner()
        .run_async(client)
        .await
        .map(|_| ());
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    Ok(result?)
}

/// A fingerprint of every embedded migration: changes whenever any migration does, so test
/// templates built from an older set are never reused.
pub fn fingerprint() -> u64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .fold(0u64, |acc, m| {
            acc.rotate_left(7) ^ m.checksum() ^ u64::from(m.version().unsigned_abs())
        })
}
