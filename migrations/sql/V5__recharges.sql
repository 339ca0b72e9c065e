-- Online recharges through WeChat Pay and Alipay (command side), and their read table.

-- Our order number at the gateway → the order and the stream it lives on: a gateway callback
-- names only `out_trade_no`. Written in the same transaction as `RechargeOrdered`.
CREATE TABLE payment_orders (
    out_trade_no text          PRIMARY KEY,
    order_id     uuid          NOT NULL UNIQUE,
    operator_id  uuid          NOT NULL,
    channel      text          NOT NULL CHECK (channel IN ('wechat', 'alipay')),
    amount       numeric(18,2) NOT NULL,
    created_at   timestamptz   NOT NULL
);

-- Invariant 6: a gateway payment is applied once. The row is written in the same transaction
-- as `RechargeSucceeded`, so a duplicate callback (or a poll racing a callback) conflicts here
-- and is answered as already applied.
CREATE TABLE payment_transactions (
    channel        text        NOT NULL,
    transaction_id text        NOT NULL,
    order_id       uuid        NOT NULL UNIQUE,
    applied_at     timestamptz NOT NULL,
    PRIMARY KEY (channel, transaction_id)
);

-- Every callback received, verified or not, with what was done about it and why.
CREATE TABLE payment_callbacks (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel        text        NOT NULL,
    received_at    timestamptz NOT NULL,
    source_ip      text        NOT NULL,
    verified       boolean     NOT NULL,
    outcome        text        NOT NULL,  -- credited | duplicate | failed | rejected
    reason         text,
    out_trade_no   text,
    transaction_id text,
    body           text        NOT NULL
);
CREATE INDEX payment_callbacks_order ON payment_callbacks (out_trade_no, received_at);

CREATE FUNCTION mr_read_schema_v5(target text) RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT AS $fn$
BEGIN
    EXECUTE format('SET LOCAL search_path TO %I', target);

    CREATE TABLE recharge_orders (
        id             uuid          PRIMARY KEY,
        operator_id    uuid          NOT NULL,
        out_trade_no   text          NOT NULL UNIQUE,
        channel        text          NOT NULL,
        amount         numeric(18,2) NOT NULL,
        -- pending | succeeded | failed | closed | needs_review
        status         text          NOT NULL,
        transaction_id text,
        query_failures integer       NOT NULL,
        reason         text,
        ordered_at     timestamptz   NOT NULL,
        paid_at        timestamptz,
        updated_at     timestamptz   NOT NULL
    );
    CREATE INDEX recharge_orders_operator ON recharge_orders (operator_id, ordered_at DESC);
    -- The poller's look-up: orders still open, oldest first.
    CREATE INDEX recharge_orders_open ON recharge_orders (ordered_at)
        WHERE status IN ('pending', 'needs_review');
END
$fn$;

CREATE OR REPLACE FUNCTION mr_create_read_schema(target text) RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT AS $fn$
BEGIN
    PERFORM mr_create_read_schema_v2(target);
    PERFORM mr_read_schema_v4(target);
    PERFORM mr_read_schema_v5(target);
END
$fn$;

-- Operator state gained open recharges: drop snapshots of the old shape (derived data).
DELETE FROM snapshots;

-- Read tables are derived: recreate the schema empty and let the projector replay.
DROP SCHEMA read CASCADE;
SELECT mr_create_read_schema('read');
