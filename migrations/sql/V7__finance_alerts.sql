-- Alerts for finance (command side, like the payment tables): money that may be held at a
-- gateway without a credit, and orders the poller could not settle. The ledger's own facts
-- stay in events (`RechargeNeedsReview`); an alert is the notice that someone must look.
-- The same condition seen again (a gateway retries its notification up to 15 times) bumps
-- `occurrences` instead of adding a row.

CREATE TABLE finance_alerts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text        NOT NULL
        CHECK (kind IN ('recharge_needs_review', 'payment_not_applied')),
    channel        text        NOT NULL CHECK (channel IN ('wechat', 'alipay')),
    out_trade_no   text        NOT NULL,
    -- Empty when the gateway named no transaction (a failing query).
    transaction_id text        NOT NULL DEFAULT '',
    operator_id    uuid,
    amount         numeric(18,2),
    reason         text        NOT NULL,
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    occurrences    integer     NOT NULL DEFAULT 1,
    UNIQUE (kind, channel, out_trade_no, transaction_id)
);
CREATE INDEX finance_alerts_recent ON finance_alerts (last_seen_at DESC, id DESC);
