//! The time zone the statistics tables cut days in.
//!
//! A read schema records its zone in `stats_settings` when it is first filled; every batch
//! cuts days in the recorded zone, so a schema's figures are all in one zone. Changing the
//! configured zone therefore needs a rebuild: `run` refuses to add figures in another zone
//! to a schema, `rebuild` fills a fresh schema in the configured one.

use tokio_postgres::GenericClient;
use tokio_postgres::error::SqlState;

use crate::Error;

/// Days are local days of mainland China unless configured otherwise.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// Longest zone name accepted (the tz database's longest is about 30 characters).
const TIME_ZONE_MAX_LEN: usize = 64;

/// Refuses a zone PostgreSQL does not know (days are cut in SQL with `AT TIME ZONE`).
pub(crate) async fn check(client: &impl GenericClient, zone: &str) -> Result<(), Error> {
    let unknown = || Error::UnknownTimeZone(zone.to_owned());
    if zone.is_empty() || zone.len() > TIME_ZONE_MAX_LEN {
        return Err(unknown());
    }
    match client
        .query_one("SELECT now() AT TIME ZONE $1", &[&zone])
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::INVALID_PARAMETER_VALUE) => Err(unknown()),
        Err(e) => Err(e.into()),
    }
}

/// The zone `schema` (validated by the caller) records, if it records one yet.
pub(crate) async fn recorded(
    client: &impl GenericClient,
    schema: &str,
) -> Result<Option<String>, Error> {
    let row = client
        .query_opt(
            &format!("SELECT time_zone FROM {schema}.stats_settings"),
            &[],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Records `zone` in `schema` if it records none yet; refuses a schema that records another
/// zone (its figures would mix two zones). `zone` must have passed [`check`].
pub(crate) async fn claim(
    client: &impl GenericClient,
    schema: &str,
    zone: &str,
) -> Result<(), Error> {
    client
        .execute(
            &format!(
                "INSERT INTO {schema}.stats_settings (time_zone) VALUES ($1) \
                 ON CONFLICT (singleton) DO NOTHING"
            ),
            &[&zone],
        )
        .await?;
    match recorded(client, schema).await? {
        Some(recorded) if recorded == zone => Ok(()),
        recorded => Err(Error::TimeZoneChanged {
            schema: schema.to_owned(),
            recorded: recorded.unwrap_or_default(),
            configured: zone.to_owned(),
        }),
    }
}

/// The zone of the schema on the current `search_path`, for one batch. A schema filled
/// without a configured zone (a bare step function call) records the default the first time.
pub(crate) async fn of_batch(client: &impl GenericClient) -> Result<String, Error> {
    let row = client
        .query_one(
            "WITH recorded AS (SELECT time_zone FROM stats_settings), \
                  added AS (INSERT INTO stats_settings (time_zone) \
                            SELECT $1::text WHERE NOT EXISTS (SELECT 1 FROM recorded) \
                            RETURNING time_zone) \
             SELECT time_zone FROM recorded UNION ALL SELECT time_zone FROM added",
            &[&DEFAULT_TIME_ZONE],
        )
        .await?;
    Ok(row.get(0))
}
