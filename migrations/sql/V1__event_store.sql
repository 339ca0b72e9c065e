-- The event store: every fact of the ledger, in per-aggregate streams with one global order.
--
-- Columns aggregate_type .. metadata keep the layout of postgres-es so the cqrs-es ecosystem
-- can read our streams. Added: `position` (global order), `tx_id` (the appending
-- transaction, for gap-free tailing) and `hash` (the per-stream hash chain).
-- payload and metadata are `json`, not `jsonb`: the stored text is exactly the hashed text.
CREATE TABLE events (
    position       bigint      GENERATED ALWAYS AS IDENTITY,
    tx_id          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence >= 1),
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    payload        json        NOT NULL,
    metadata       json        NOT NULL,
    hash           bytea       NOT NULL CHECK (length(hash) = 32),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE UNIQUE INDEX events_position ON events (position);
-- The projector reads in (tx_id, position) order.
CREATE INDEX events_tx_position ON events (tx_id, position);

-- Events are facts: nobody may change or remove them, whatever their privileges in the app.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Snapshots of aggregate state, so loading costs at most SNAPSHOT_EVERY events.
-- Derived data: may be deleted at any time and is rebuilt on the next load.
CREATE TABLE snapshots (
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint NOT NULL,
    hash           bytea  NOT NULL,  -- hash of the event at `sequence`: the chain continues from it
    state          json   NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- Idempotency of headset sessions. Inserted in the same transaction as the GameAuthorized
-- event, so one (operator, session) can never be charged twice, across any number of
-- command-api instances. `response` is the original `data` object, byte for byte.
CREATE TABLE headset_sessions (
    operator_id    uuid        NOT NULL,
    session_id     text        NOT NULL,
    app_id         uuid        NOT NULL,
    site_id        uuid        NOT NULL,
    player_count   integer     NOT NULL,
    authorized_at  timestamptz NOT NULL,
    response       text        NOT NULL,
    end_response   text,
    PRIMARY KEY (operator_id, session_id)
);

-- Secrets of API credentials, encrypted with AES-256-GCM under a master key.
-- Written in the same transaction as the CredentialIssued / CredentialRotated event;
-- events only ever carry the key id and a fingerprint.
CREATE TABLE api_credentials (
    key_id            text        PRIMARY KEY,
    operator_id       uuid        NOT NULL,
    secret_ciphertext bytea       NOT NULL,
    master_key_id     text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_credentials_operator ON api_credentials (operator_id);

-- Usernames are unique across operators: a fact no single stream can check, so the
-- registration claims its username here in the same transaction as OperatorRegistered.
CREATE TABLE operator_usernames (
    username    text PRIMARY KEY,
    operator_id uuid NOT NULL UNIQUE
);
