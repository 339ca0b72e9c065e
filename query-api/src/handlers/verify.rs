//! `POST /api/v1/audit/verify`: the same check as `projector verify`, on demand, for auditors.
//!
//! It runs the projector's own verify (`projector::verify`): every hash chain recomputed, then
//! a replay of the events into a scratch schema diffed against every read table, and every
//! balance recomputed from the events with SQL. The replay needs a connection that may write:
//! it creates and fills the scratch schema **inside one REPEATABLE READ transaction that always
//! rolls back**, so nothing is ever left behind and no read table is touched. That is why it
//! does not use the query pool (read only, 5 s statement timeout): it opens a dedicated
//! connection without a statement timeout (a verify reads the whole history) and closes it
//! when done. One verify at a time per instance; a second call meanwhile gets 409
//! `VERIFY_IN_PROGRESS`.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use projector::VerifyReport;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_postgres::NoTls;

use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::settings::Settings;

/// Runs verifies, one at a time.
pub struct VerifyRunner {
    database_url: String,
    connect_timeout: std::time::Duration,
    /// One permit: the verify running now.
    running: Arc<Semaphore>,
}

impl VerifyRunner {
    pub fn new(settings: &Settings) -> VerifyRunner {
        VerifyRunner {
            database_url: settings.database_url.clone(),
            connect_timeout: settings.db_connect_timeout(),
            running: Arc::new(Semaphore::new(1)),
        }
    }

    /// Verifies the live read schema; [`VerifyError::InProgress`] while another verify runs.
    pub async fn verify(&self) -> Result<VerifyReport, VerifyError> {
        let _running = self
            .running
            .try_acquire()
            .map_err(|_| VerifyError::InProgress)?;
        let mut config: tokio_postgres::Config = self
            .database_url
            .parse()
            .map_err(|e: tokio_postgres::Error| VerifyError::Connect(e.to_string()))?;
        // No statement timeout (the replay reads every event); not read only (the scratch
        // schema lives inside the transaction that rolls back).
        let session = "-c statement_timeout=0";
        let options = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {session}"),
            _ => session.to_owned(),
        };
        config.options(options);
        config.application_name("query-api-verify");
        config.connect_timeout(self.connect_timeout);
        let (mut client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| VerifyError::Connect(e.to_string()))?;
        // The connection ends when the client is dropped at the end of this call.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "verify connection ended with an error");
            }
        });
        let report = projector::verify(&mut client, projector::READ_SCHEMA)
            .await
            .map_err(VerifyError::Verify)?;
        Ok(report)
    }
}

/// Why a verify gave no report.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("a verify is already running on this instance")]
    InProgress,
    #[error("cannot connect for the verify: {0}")]
    Connect(String),
    #[error("verify failed: {0}")]
    Verify(projector::Error),
}

impl From<VerifyError> for ApiError {
    fn from(error: VerifyError) -> ApiError {
        match error {
            VerifyError::InProgress => ApiError::VerifyInProgress,
            VerifyError::Connect(cause) => ApiError::Unavailable(cause),
            VerifyError::Verify(cause) => ApiError::Internal(cause.to_string()),
        }
    }
}

/// The answer: the report and whether it is clean.
#[derive(Serialize)]
struct VerifyAnswer {
    clean: bool,
    #[serde(flatten)]
    report: VerifyReport,
}

pub async fn verify(
    _caller: Caller,
    runner: web::Data<VerifyRunner>,
) -> Result<HttpResponse, ApiError> {
    let report = runner.verify().await?;
    Ok(envelope::ok(VerifyAnswer {
        clean: report.is_clean(),
        report,
    }))
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;
    use actix_web::http::StatusCode;

    use super::*;
    use crate::Secret;

    #[tokio::test]
    async fn a_second_verify_while_one_runs_is_refused_with_409() {
        let settings = Settings::new(
            "postgres://nobody@127.0.0.1:1/none",
            Secret::new("unit-test-secret-0123456789abcdefghij"),
        );
        let runner = VerifyRunner::new(&settings);
        let _first = runner.running.clone().try_acquire_owned().unwrap();
        let second = runner.verify().await.unwrap_err();
        assert!(matches!(second, VerifyError::InProgress), "{second}");
        let answer = ApiError::from(second);
        assert_eq!(answer.status_code(), StatusCode::CONFLICT);
        assert_eq!(answer.code().as_str(), "VERIFY_IN_PROGRESS");
    }

    #[tokio::test]
    async fn an_unreachable_database_is_a_503() {
        let mut settings = Settings::new(
            "postgres://nobody@127.0.0.1:1/none",
            Secret::new("unit-test-secret-0123456789abcdefghij"),
        );
        settings.db_connect_timeout_ms = 200;
        let error = VerifyRunner::new(&settings).verify().await.unwrap_err();
        assert!(matches!(error, VerifyError::Connect(_)), "{error}");
        assert_eq!(
            ApiError::from(error).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
