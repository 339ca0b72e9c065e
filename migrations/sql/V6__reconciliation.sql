-- Reconciliation of a channel's daily gateway statement with the ledger's credits (command
-- side; the query API reads these tables as they are). A run is immutable once written: run and
-- items are inserted in one transaction.

CREATE TABLE reconciliation_runs (
    id                 uuid          PRIMARY KEY,
    channel            text          NOT NULL CHECK (channel IN ('wechat', 'alipay')),
    -- The statement's calendar day, Asia/Shanghai (the gateways' day).
    bill_date          date          NOT NULL,
    created_by         text          NOT NULL,
    created_at         timestamptz   NOT NULL,
    matched            integer       NOT NULL,
    missing_in_ledger  integer       NOT NULL,
    missing_at_gateway integer       NOT NULL,
    amount_mismatch    integer       NOT NULL,
    gateway_count      integer       NOT NULL,
    gateway_total      numeric(18,2) NOT NULL,
    ledger_count       integer       NOT NULL,
    ledger_total       numeric(18,2) NOT NULL
);
CREATE INDEX reconciliation_runs_created ON reconciliation_runs (created_at DESC, id DESC);

CREATE TABLE reconciliation_items (
    run_id         uuid          NOT NULL REFERENCES reconciliation_runs (id),
    line           integer       NOT NULL,
    kind           text          NOT NULL
        CHECK (kind IN ('matched', 'missing_in_ledger', 'missing_at_gateway', 'amount_mismatch')),
    out_trade_no   text          NOT NULL,
    transaction_id text,
    gateway_amount numeric(18,2),
    ledger_amount  numeric(18,2),
    detail         text,
    PRIMARY KEY (run_id, line)
);

-- A run reads the ledger's credits of a channel and day from `RechargeSucceeded` events: this
-- keeps that read to those events instead of the whole store.
CREATE INDEX events_recharge_succeeded ON events (position) WHERE event_type = 'RechargeSucceeded';
