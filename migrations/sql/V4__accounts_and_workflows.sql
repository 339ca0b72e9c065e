-- Accounts and logins (command side), and the read tables of the operator / admin / finance
-- workflows.

-- Who can log in, and with what. Passwords are argon2id PHC strings, never in events.
-- Mutable security state (failure count, lockout, disabled) lives here; what people did to
-- the account is in the owner's stream (operator or staff member).
CREATE TABLE accounts (
    id                  uuid        PRIMARY KEY,       -- the operator's or staff member's id
    kind                text        NOT NULL CHECK (kind IN ('operator', 'staff')),
    username            text        NOT NULL,
    role                text        NOT NULL,
    -- NULL: no password set yet (an operator created by staff without one); login refused.
    password_hash       text,
    status              text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    failed_logins       integer     NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    created_at          timestamptz NOT NULL,
    password_changed_at timestamptz
);
-- Usernames are unique per kind whatever their case, so "Arcade" cannot shadow "arcade".
CREATE UNIQUE INDEX accounts_username ON accounts (kind, lower(username));

-- One login: its access and refresh tokens carry its id. Logout revokes it; a refresh moves
-- `refresh_generation` on, and presenting an older refresh token revokes it (token theft).
CREATE TABLE auth_sessions (
    id                 uuid        PRIMARY KEY,
    account_id         uuid        NOT NULL REFERENCES accounts (id),
    refresh_generation integer     NOT NULL DEFAULT 0,
    source_ip          text        NOT NULL,
    created_at         timestamptz NOT NULL,
    refreshed_at       timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz,
    revoked_reason     text
);
CREATE INDEX auth_sessions_live ON auth_sessions (account_id) WHERE revoked_at IS NULL;

-- Invoice numbers: MR + issue date + this sequence, so they are unique and never reused.
CREATE SEQUENCE invoice_numbers;

-- Operator state gained fields: cached states and snapshots of the old shape are dropped
-- (they are derived data and are rebuilt from the events on the next load).
DELETE FROM snapshots;

-- The read schema gains tables and columns. Read tables are derived data: the schema is
-- recreated empty and the projector replays every event into it.
ALTER FUNCTION mr_create_read_schema(text) RENAME TO mr_create_read_schema_v2;

CREATE FUNCTION mr_read_schema_v4(target text) RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT AS $fn$
BEGIN
    EXECUTE format('SET LOCAL search_path TO %I', target);

    ALTER TABLE operators
        ADD COLUMN low_balance_threshold numeric(18,2) NOT NULL DEFAULT 0,
        ADD COLUMN total_refunded        numeric(18,2) NOT NULL DEFAULT 0,
        ADD COLUMN total_invoiced        numeric(18,2) NOT NULL DEFAULT 0,
        ADD COLUMN deactivated_at        timestamptz;
    CREATE INDEX operators_list ON operators (registered_at DESC, id DESC);
    -- A price change notifies the app's holders.
    CREATE INDEX grants_app ON grants (app_id);
    -- The global transaction monitor pages every operator's money, newest first.
    CREATE INDEX transactions_global ON transactions (occurred_at DESC, position DESC);

    -- Staff accounts (no passwords here).
    CREATE TABLE staff (
        id            uuid        PRIMARY KEY,
        username      text        NOT NULL,
        name          text        NOT NULL,
        role          text        NOT NULL,
        status        text        NOT NULL,
        created_at    timestamptz NOT NULL,
        updated_at    timestamptz NOT NULL
    );

    CREATE TABLE app_applications (
        id            uuid        PRIMARY KEY,
        operator_id   uuid        NOT NULL,
        app_id        uuid        NOT NULL,
        app_name      text        NOT NULL,
        reason        text        NOT NULL,
        status        text        NOT NULL,      -- pending | approved | rejected
        review_reason text,
        reviewed_by   text,
        applied_at    timestamptz NOT NULL,
        reviewed_at   timestamptz
    );
    CREATE INDEX app_applications_operator ON app_applications (operator_id, applied_at DESC);
    CREATE INDEX app_applications_status ON app_applications (status, applied_at DESC);

    CREATE TABLE refunds (
        id               uuid          PRIMARY KEY,
        operator_id      uuid          NOT NULL,
        status           text          NOT NULL,  -- pending | approved | rejected
        requested_amount numeric(18,2) NOT NULL,
        reason           text          NOT NULL,
        amount           numeric(18,2),           -- refunded, set at approval
        balance_after    numeric(18,2),
        reject_reason    text,
        reviewed_by      text,
        requested_at     timestamptz   NOT NULL,
        reviewed_at      timestamptz
    );
    CREATE INDEX refunds_operator ON refunds (operator_id, requested_at DESC);
    CREATE INDEX refunds_status ON refunds (status, requested_at DESC);

    CREATE TABLE invoices (
        id                uuid          PRIMARY KEY,
        operator_id       uuid          NOT NULL,
        status            text          NOT NULL, -- pending | issued | rejected
        invoice_type      text          NOT NULL, -- general | special
        title             text          NOT NULL,
        tax_number        text          NOT NULL,
        amount            numeric(18,2) NOT NULL,
        invoice_number    text,
        seller_name       text,
        seller_tax_number text,
        reject_reason     text,
        reviewed_by       text,
        requested_at      timestamptz   NOT NULL,
        issued_at         timestamptz,
        reviewed_at       timestamptz
    );
    CREATE INDEX invoices_operator ON invoices (operator_id, requested_at DESC);
    CREATE INDEX invoices_status ON invoices (status, requested_at DESC);

    CREATE TABLE announcements (
        id           uuid        PRIMARY KEY,
        title        text        NOT NULL,
        body         text        NOT NULL,
        published_by text        NOT NULL,
        published_at timestamptz NOT NULL,
        position     bigint      NOT NULL
    );

    -- An operator's message center. `id` is the global position of the event that created
    -- the message, so ids are stable across rebuilds and "read all" can say "below mine".
    CREATE TABLE messages (
        operator_id uuid        NOT NULL,
        id          bigint      NOT NULL,
        kind        text        NOT NULL,  -- announcement | price_change | low_balance | grant_expiry
        data        jsonb       NOT NULL,  -- what the text is rendered from, per language
        created_at  timestamptz NOT NULL,
        read_at     timestamptz,
        PRIMARY KEY (operator_id, id)
    );
    CREATE INDEX messages_unread ON messages (operator_id) WHERE read_at IS NULL;

    -- Every staff action, from the metadata of events recorded by staff.
    CREATE TABLE staff_actions (
        position       bigint      PRIMARY KEY,
        actor_id       text        NOT NULL,
        actor_role     text        NOT NULL,
        action         text        NOT NULL,  -- the event type
        aggregate_type text        NOT NULL,
        aggregate_id   text        NOT NULL,
        details        jsonb       NOT NULL,  -- the event payload
        source_ip      text        NOT NULL,
        request_id     text        NOT NULL,
        occurred_at    timestamptz NOT NULL
    );
    CREATE INDEX staff_actions_time ON staff_actions (occurred_at DESC, position DESC);
    CREATE INDEX staff_actions_actor ON staff_actions (actor_id, occurred_at DESC);
    CREATE INDEX staff_actions_action ON staff_actions (action, occurred_at DESC);
    CREATE INDEX staff_actions_target ON staff_actions (aggregate_type, aggregate_id, occurred_at DESC);
END
$fn$;

-- The one definition of a read schema from now on: the tables of V2, then those of V4.
CREATE FUNCTION mr_create_read_schema(target text) RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT AS $fn$
BEGIN
    PERFORM mr_create_read_schema_v2(target);
    PERFORM mr_read_schema_v4(target);
END
$fn$;

DROP SCHEMA read CASCADE;
SELECT mr_create_read_schema('read');
