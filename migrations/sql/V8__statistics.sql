-- Statistics read models: daily figures the projector adds to as events arrive, so no
-- dashboard sums raw usage rows. Weeks and months are sums of days (at most 31 rows a group).
-- Days are cut in the time zone recorded in `stats_settings` (Asia/Shanghai unless the
-- projector is configured otherwise); changing the zone means rebuilding the read schema.
CREATE FUNCTION mr_read_schema_v8(target text) RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT AS $fn$
BEGIN
    EXECUTE format('SET LOCAL search_path TO %I', target);

    -- The zone the days below are cut in; the projector writes it when it first fills the
    -- schema and refuses to go on under a different setting.
    CREATE TABLE stats_settings (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        time_zone text    NOT NULL
    );

    -- Games per operator, local day, site and app. Sessions are counted by player count in
    -- the buckets the analysts use: up to 2, 3–4, 5–8, 9 and more.
    CREATE TABLE stats_usage_daily (
        operator_id     uuid          NOT NULL,
        day             date          NOT NULL,
        site_id         uuid          NOT NULL,
        app_id          uuid          NOT NULL,
        sessions        bigint        NOT NULL,
        player_times    bigint        NOT NULL,
        spend           numeric(18,2) NOT NULL,
        sessions_upto_2 bigint        NOT NULL,
        sessions_3_4    bigint        NOT NULL,
        sessions_5_8    bigint        NOT NULL,
        sessions_9_plus bigint        NOT NULL,
        PRIMARY KEY (operator_id, day, site_id, app_id)
    );
    CREATE INDEX stats_usage_daily_day ON stats_usage_daily (day);

    -- Money per operator and local day: recharges (online and staff credits), charges,
    -- refunds.
    CREATE TABLE stats_money_daily (
        operator_id uuid          NOT NULL,
        day         date          NOT NULL,
        recharged   numeric(18,2) NOT NULL,
        recharges   bigint        NOT NULL,
        charged     numeric(18,2) NOT NULL,
        charges     bigint        NOT NULL,
        refunded    numeric(18,2) NOT NULL,
        refunds     bigint        NOT NULL,
        PRIMARY KEY (operator_id, day)
    );
    CREATE INDEX stats_money_daily_day ON stats_money_daily (day);
END
$fn$;

CREATE OR REPLACE FUNCTION mr_create_read_schema(target text) RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT AS $fn$
BEGIN
    PERFORM mr_create_read_schema_v2(target);
    PERFORM mr_read_schema_v4(target);
    PERFORM mr_read_schema_v5(target);
    PERFORM mr_read_schema_v8(target);
END
$fn$;

-- Read tables are derived: recreate the schema empty and let the projector replay.
DROP SCHEMA read CASCADE;
SELECT mr_create_read_schema('read');
