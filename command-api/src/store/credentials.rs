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
