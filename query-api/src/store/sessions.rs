//! Login sessions (command-side tables in `public`): is a token's session still live?

use uuid::Uuid;

use super::replica::Target;
use super::{Store, StoreError};

impl Store {
    /// The role of account `account_id` when its session `session_id` is live: not revoked,
    /// not expired, and the account active. `None` otherwise (the token is then refused).
    pub async fn live_session_role(
        &self,
        session_id: Uuid,
        account_id: Uuid,
    ) -> Result<Option<String>, StoreError> {
        let target = self.target();
        let role = self
            .session_role_on(self.pool_of(target), session_id, account_id)
            .await?;
        // A login made a moment ago may not have reached the replica yet: a session it does
        // not know is asked of the primary before the token is refused. (A revocation reaches
        // the replica within its lag, which the lag limits bound.)
        if role.is_none() && target == Target::Replica {
            return self
                .session_role_on(&self.primary, session_id, account_id)
                .await;
        }
        Ok(role)
    }

    async fn session_role_on(
        &self,
        pool: &deadpool_postgres::Pool,
        session_id: Uuid,
        account_id: Uuid,
    ) -> Result<Option<String>, StoreError> {
        let client = pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT a.role FROM public.auth_sessions s JOIN public.accounts a ON a.id = s.account_id
                 WHERE s.id = $1 AND a.id = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
                   AND a.status = 'active'",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&session_id, &account_id]).await?;
        Ok(row.map(|r| r.try_get("role")).transpose()?)
    }
}
