//! Master-key rotation: reseal every API secret under the current master key, and refuse to
//! start while a stored secret is sealed under a key the service does not hold.
//!
//! A rotation runs with two keys configured: the new one as `MR_MASTER_KEY` /
//! `MR_MASTER_KEY_ID`, the old one in `MR_MASTER_KEY_PREVIOUS`. Every secret opens throughout,
//! so requests never notice. `rotate-master-key` reseals the rows one per short transaction
//! (the row locked while it is read and rewritten), so a crash leaves every row either old or
//! new and a second run, or two runs at once, finish the job without resealing twice.

use deadpool_postgres::Pool;
use ledger_core::ids::KeyId;
use serde::Serialize;

use crate::crypto::{CryptoError, MasterKeys};
use crate::store::StoreError;
use crate::store::credentials;

/// Rows read per batch by default: each row is still its own transaction.
pub const DEFAULT_BATCH_SIZE: i64 = 100;

/// What a rotation did, row by row.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    /// The key every resealed secret is now under.
    pub master_key_id: String,
    pub resealed: u64,
    /// Rows another rotation resealed between this one listing and locking them.
    pub already_current: u64,
    /// Rows sealed under a key id that is not configured: left as they are.
    pub unknown_master_key: u64,
    /// Rows whose sealed secret does not open under the key they name: left as they are.
    pub unreadable: u64,
}

impl RotationReport {
    /// Whether every secret is now sealed under the current key, so that the previous keys
    /// can be removed from the settings.
    pub fn complete(&self) -> bool {
        self.unknown_master_key == 0 && self.unreadable == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    /// Stable code `MASTER_KEY_UNKNOWN`: the settings lack a key that stored secrets need.
    #[error(
        "MASTER_KEY_UNKNOWN: {secrets} API secret(s) are sealed under master key id(s) {ids:?}, \
         which are neither MR_MASTER_KEY_ID nor in MR_MASTER_KEY_PREVIOUS; configure the \
         missing key(s) (see docs/OPERATIONS.md, Secrets)"
    )]
    Unknown { ids: Vec<String>, secrets: i64 },
    /// Stable code `MASTER_KEY_MISMATCH`: a configured key is not the one that sealed the
    /// secrets stored under its id (a key changed under an existing id).
    #[error(
        "MASTER_KEY_MISMATCH: the secret of credential {key_id} does not open under master key \
         {master_key_id}: the configured key is not the one that sealed it"
    )]
    Mismatch {
        master_key_id: String,
        key_id: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Fails when a stored secret is sealed under a key id `keys` does not hold, or when one
/// secret per key id does not open under the configured key of that id: better a service
/// that does not start than authorizations failing one operator at a time.
pub async fn check_every_secret_opens(pool: &Pool, keys: &MasterKeys) -> Result<(), KeyCheckError> {
    let client = pool.get().await.map_err(StoreError::from)?;
    let unknown: Vec<(String, i64)> = credentials::count_by_master_key(&client)
        .await?
        .into_iter()
        .filter(|(id, _)| !keys.holds(id))
        .collect();
    if !unknown.is_empty() {
        return Err(KeyCheckError::Unknown {
            secrets: unknown.iter().map(|(_, count)| count).sum(),
            ids: unknown.into_iter().map(|(id, _)| id).collect(),
        });
    }
    for (key_id, sealed) in credentials::one_per_master_key(&client).await? {
        if keys
            .open(&sealed.master_key_id, &key_id, &sealed.secret_ciphertext)
            .is_err()
        {
            return Err(KeyCheckError::Mismatch {
                master_key_id: sealed.master_key_id,
                key_id: key_id.0,
            });
        }
    }
    Ok(())
}

/// Reseals every secret not under the current key, `batch_size` rows listed at a time.
pub async fn rotate(
    pool: &Pool,
    keys: &MasterKeys,
    batch_size: i64,
) -> Result<RotationReport, StoreError> {
    let mut report = RotationReport {
        master_key_id: keys.id().to_owned(),
        ..RotationReport::default()
    };
    // Key-id order with a cursor: rows left as they are (unknown key) are not listed again.
    let mut after = String::new();
    loop {
        let batch = {
            let client = pool.get().await?;
            credentials::not_sealed_under(&client, keys.id(), &after, batch_size.max(1)).await?
        };
        let Some(last) = batch.last() else {
            return Ok(report);
        };
        after = last.clone();
        for key_id in &batch {
            match reseal_one(pool, keys, key_id).await? {
                Outcome::Resealed => report.resealed += 1,
                Outcome::AlreadyCurrent => report.already_current += 1,
                Outcome::UnknownMasterKey => report.unknown_master_key += 1,
                Outcome::Unreadable => report.unreadable += 1,
            }
        }
        tracing::info!(
            resealed = report.resealed,
            already_current = report.already_current,
            "master key rotation batch done"
        );
    }
}

enum Outcome {
    Resealed,
    AlreadyCurrent,
    UnknownMasterKey,
    Unreadable,
}

/// One row in one transaction: lock it, open it under the key it names, seal it under the
/// current key. Nothing but the row's own lock is held, so authorizations keep going.
async fn reseal_one(pool: &Pool, keys: &MasterKeys, key_id: &str) -> Result<Outcome, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Rows are never deleted; a row that vanished is nothing left to do.
    let Some(sealed) = credentials::find_for_update(&tx, key_id).await? else {
        return Ok(Outcome::AlreadyCurrent);
    };
    if sealed.master_key_id == keys.id() {
        return Ok(Outcome::AlreadyCurrent);
    }
    let credential = KeyId(key_id.to_owned());
    let secret = match keys.open(
        &sealed.master_key_id,
        &credential,
        &sealed.secret_ciphertext,
    ) {
        Ok(secret) => secret,
        Err(CryptoError::UnknownMasterKey(id)) => {
            tracing::error!(key_id, master_key_id = %id, "secret sealed under an unknown master key");
            return Ok(Outcome::UnknownMasterKey);
        }
        Err(error) => {
            tracing::error!(key_id, %error, "sealed secret does not open");
            return Ok(Outcome::Unreadable);
        }
    };
    let resealed = keys.seal(&credential, &secret);
    credentials::reseal(&tx, key_id, &resealed, keys.id()).await?;
    tx.commit().await?;
    Ok(Outcome::Resealed)
}
