-- Security alerts (command side, like finance_alerts): an IP that tripped the anomaly
-- thresholds (failed signatures, or distinct unknown or failing key ids). The operator locks
-- themselves are events (`OperatorLocked`, reason naming the IP and counts); the block is
-- kept in Redis with its expiry; this row is the notice that staff must look.

CREATE TABLE security_alerts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('ip_anomaly')),
    source_ip         text        NOT NULL,
    failed_signatures integer     NOT NULL,
    distinct_key_ids  integer     NOT NULL,
    -- False when the IP is in a trusted network: counted and alerted, never blocked.
    ip_blocked        boolean     NOT NULL,
    blocked_until     timestamptz,
    locked_operators  uuid[]      NOT NULL DEFAULT '{}',
    reason            text        NOT NULL,
    created_at        timestamptz NOT NULL
);
CREATE INDEX security_alerts_recent ON security_alerts (created_at DESC, id DESC);
