//! The encrypted secret store of API credentials (`api_credentials`).

use deadpool_postgres::GenericClient;
use ledger_core::ids::{KeyId, OperatorId};

use super::StoreError;

/// A stored credential: whose it is and its sealed secret.
#[derive(Debug, Clone)]
pub struct SealedCredential {
    pub operator_id: OperatorId,
    pub secret_ciphertext: Vec<u8>,
    pub master_key_id: String,
}

pub async fn find(
    client: &impl GenericClient,
    key_id: &str,
) -> Result<Option<SealedCredential>, StoreError> {
    let statement = client
        .prepare_cached("SELECT operator_id, secret_ciphertext, master_key_id FROM api_credentials WHERE key_id = $1")
        .await?;
    Ok(client
        .query_opt(&statement, &[&key_id])
        .await?
        .map(|row| SealedCredential {
            operator_id: OperatorId(row.get(0)),
            secret_ciphertext: row.get(1),
            master_key_id: row.get(2),
        }))
}

/// Stores a sealed secret; run in the transaction that appends its CredentialIssued /
/// CredentialRotated event.
pub async fn insert(
    client: &impl GenericClient,
    key_id: &KeyId,
    credential: &SealedCredential,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO api_credentials (key_id, operator_id, secret_ciphertext, master_key_id) \
             VALUES ($1, $2, $3, $4)",
        )
        .await?;
    client
        .execute(
            &statement,
            &[
                &key_id.as_str(),
                &credential.operator_id.as_uuid(),
                &credential.secret_ciphertext,
                &credential.master_key_id,
            ],
        )
        .await?;
    Ok(())
}

/// The current sealed secret of the operator's newest credential (for the demo seed).
pub async fn newest_of(
    client: &impl GenericClient,
    operator: OperatorId,
) -> Result<Option<(KeyId, SealedCredential)>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT key_id, operator_id, secret_ciphertext, master_key_id FROM api_credentials \
             WHERE operator_id = $1 ORDER BY created_at DESC, key_id LIMIT 1",
        )
        .await?;
    Ok(client
        .query_opt(&statement, &[&operator.as_uuid()])
        .await?
        .map(|row| {
            (
                KeyId(row.get(0)),
                SealedCredential {
                    operator_id: OperatorId(row.get(1)),
                    secret_ciphertext: row.get(2),
                    master_key_id: row.get(3),
                },
            )
        }))
}

/// How many secrets are sealed under each master key id.
pub async fn count_by_master_key(
    client: &impl GenericClient,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = client
        .query(
            "SELECT master_key_id, count(*) FROM api_credentials \
             GROUP BY master_key_id ORDER BY master_key_id",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Up to `limit` key ids after `after` (in key id order) whose secret is not sealed under
/// `master_key_id`: one batch of a rotation.
pub async fn not_sealed_under(
    client: &impl GenericClient,
    master_key_id: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let rows = client
        .query(
            "SELECT key_id FROM api_credentials WHERE master_key_id <> $1 AND key_id > $2 \
             ORDER BY key_id LIMIT $3",
            &[&master_key_id, &after, &limit],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// The credential behind `key_id`, locked until the transaction ends, so that two
/// rotations never reseal the same row from the same stale state.
pub async fn find_for_update(
    client: &impl GenericClient,
    key_id: &str,
) -> Result<Option<SealedCredential>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT operator_id, secret_ciphertext, master_key_id FROM api_credentials \
             WHERE key_id = $1 FOR UPDATE",
            &[&key_id],
        )
        .await?
        .map(|row| SealedCredential {
            operator_id: OperatorId(row.get(0)),
            secret_ciphertext: row.get(1),
            master_key_id: row.get(2),
        }))
}

/// Replaces a secret's sealed form and the id of the key that sealed it.
pub async fn reseal(
    client: &impl GenericClient,
    key_id: &str,
    secret_ciphertext: &[u8],
    master_key_id: &str,
) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE api_credentials SET secret_ciphertext = $2, master_key_id = $3 \
             WHERE key_id = $1",
            &[&key_id, &secret_ciphertext, &master_key_id],
        )
        .await?;
    Ok(())
}

/// One credential per master key id (the first by key id), to check at start that each
/// configured key really is the one that sealed them.
pub async fn one_per_master_key(
    client: &impl GenericClient,
) -> Result<Vec<(KeyId, SealedCredential)>, StoreError> {
    let rows = client
        .query(
            "SELECT DISTINCT ON (master_key_id) key_id, operator_id, secret_ciphertext, \
             master_key_id FROM api_credentials ORDER BY master_key_id, key_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                KeyId(row.get(0)),
                SealedCredential {
                    operator_id: OperatorId(row.get(1)),
                    secret_ciphertext: row.get(2),
                    master_key_id: row.get(3),
                },
            )
        })
        .collect())
}
