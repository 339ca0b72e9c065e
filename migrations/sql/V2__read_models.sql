-- Read models, built by the projector from the events. They live in a schema of their own
-- so a rebuild can fill a fresh schema beside the live one and swap names in one transaction.
-- `mr_create_read_schema(name)` is the single definition of that schema's tables.
-- Its SET clause confines the `SET LOCAL search_path` inside to the call: without it the
-- caller's transaction (e.g. the migration runner's) would go on in the new schema.
CREATE FUNCTION mr_create_read_schema(target text) RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT AS $fn$
BEGIN
    EXECUTE format('CREATE SCHEMA %I', target);
    EXECUTE format('SET LOCAL search_path TO %I', target);

    -- Where the projector stands: the last event applied, in (tx_id, position) order.
    CREATE TABLE checkpoint (
        singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
        tx_id      xid8        NOT NULL,
        position   bigint      NOT NULL,
        events     bigint      NOT NULL,
        updated_at timestamptz NOT NULL
    );
    INSERT INTO checkpoint VALUES (true, '0'::xid8, 0, 0, now());

    CREATE TABLE operators (
        id             uuid          PRIMARY KEY,
        username       text          NOT NULL,
        name           text          NOT NULL,
        phone          text          NOT NULL,
        email          text          NOT NULL,
        category       text          NOT NULL,
        status         text          NOT NULL,
        locked_at      timestamptz,
        lock_reason    text,
        balance        numeric(18,2) NOT NULL CHECK (balance >= 0),
        total_credited numeric(18,2) NOT NULL,
        total_charged  numeric(18,2) NOT NULL,
        games          bigint        NOT NULL,
        registered_at  timestamptz   NOT NULL,
        updated_at     timestamptz   NOT NULL,
        last_sequence  bigint        NOT NULL
    );
    CREATE UNIQUE INDEX operators_username ON operators (username);

    CREATE TABLE credentials (
        key_id      text        PRIMARY KEY,
        operator_id uuid        NOT NULL,
        fingerprint text        NOT NULL,
        issued_at   timestamptz NOT NULL,
        ends_at     timestamptz
    );
    CREATE INDEX credentials_operator ON credentials (operator_id);

    CREATE TABLE sites (
        id          uuid        PRIMARY KEY,
        operator_id uuid        NOT NULL,
        name        text        NOT NULL,
        address     text        NOT NULL,
        status      text        NOT NULL,
        opened_at   timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL,
        closed_at   timestamptz
    );
    CREATE INDEX sites_operator ON sites (operator_id);

    CREATE TABLE apps (
        id          uuid          PRIMARY KEY,
        name        text          NOT NULL,
        description text          NOT NULL,
        unit_price  numeric(18,2) NOT NULL,
        min_players integer       NOT NULL,
        max_players integer       NOT NULL,
        status      text          NOT NULL,
        created_at  timestamptz   NOT NULL,
        updated_at  timestamptz   NOT NULL,
        -- The app stream's last applied event: the projector skips anything at or below it.
        last_sequence bigint      NOT NULL
    );

    CREATE TABLE grants (
        operator_id uuid        NOT NULL,
        app_id      uuid        NOT NULL,
        expires_at  timestamptz,
        status      text        NOT NULL,
        granted_at  timestamptz NOT NULL,
        revoked_at  timestamptz,
        PRIMARY KEY (operator_id, app_id)
    );

    CREATE TABLE usage_records (
        operator_id         uuid          NOT NULL,
        session_id          text          NOT NULL,
        site_id             uuid          NOT NULL,
        app_id              uuid          NOT NULL,
        app_name            text          NOT NULL,
        player_count        integer       NOT NULL,
        unit_price          numeric(18,2) NOT NULL,
        total_cost          numeric(18,2) NOT NULL,
        balance_after       numeric(18,2) NOT NULL,
        authorization_token uuid          NOT NULL,
        authorized_at       timestamptz   NOT NULL,
        ended_at            timestamptz,
        duration_seconds    bigint,
        position            bigint        NOT NULL,
        PRIMARY KEY (operator_id, session_id)
    );
    -- Keyset pagination, newest first.
    CREATE INDEX usage_records_page ON usage_records (operator_id, authorized_at DESC, position DESC);

    -- Every money movement of an operator: charges and credits (recharges and refunds later).
    CREATE TABLE transactions (
        position      bigint        PRIMARY KEY,
        operator_id   uuid          NOT NULL,
        kind          text          NOT NULL,
        amount        numeric(18,2) NOT NULL,
        balance_after numeric(18,2) NOT NULL,
        reference     text          NOT NULL,
        description   text          NOT NULL,
        occurred_at   timestamptz   NOT NULL
    );
    CREATE INDEX transactions_page ON transactions (operator_id, occurred_at DESC, position DESC);

    CREATE TABLE headset_servers (
        operator_id    uuid        NOT NULL,
        server_id      text        NOT NULL,
        site_id        uuid        NOT NULL,
        players_online integer     NOT NULL,
        version        text        NOT NULL,
        last_seen_at   timestamptz NOT NULL,
        -- The server stream's last applied event (as in operators and apps).
        last_sequence  bigint      NOT NULL,
        PRIMARY KEY (operator_id, server_id)
    );
END
$fn$;

SELECT mr_create_read_schema('read');
