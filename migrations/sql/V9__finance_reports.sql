-- Finance reports: rendered PDF and XLSX files of one period's revenue, top customers and
-- usage. They are artifacts, not read models (a replay does not recreate them), so they live
-- in the public schema; the query API writes this one table through a small pool of its own.
-- One row per (kind, period_start): the schedule fills a missing one, and generating on demand
-- again replaces the files in place (same id), so a period has exactly one current report.

CREATE TABLE finance_reports (
    id           uuid        PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('daily', 'weekly', 'monthly', 'yearly')),
    period_start date        NOT NULL,
    period_end   date        NOT NULL CHECK (period_end >= period_start),
    -- The zone the period's days were cut in (`read.stats_settings` when generated).
    time_zone    text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('ready', 'failed')),
    -- The headline figures (revenue totals), so a list can show them without the files.
    totals       jsonb       NOT NULL DEFAULT '{}',
    pdf          bytea,
    xlsx         bytea,
    -- Why generation failed, for a `failed` row.
    error        text,
    generated_at timestamptz NOT NULL,
    -- The staff member who asked; NULL for the schedule.
    requested_by uuid,
    UNIQUE (kind, period_start),
    CHECK ((status = 'ready') = (pdf IS NOT NULL AND xlsx IS NOT NULL))
);
CREATE INDEX finance_reports_recent ON finance_reports (generated_at DESC, id DESC);
