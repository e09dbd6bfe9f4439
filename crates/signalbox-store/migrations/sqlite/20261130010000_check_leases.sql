-- Which instance runs which health checks. Check names hash into 256 partitions (the count is
-- `CHECK_PARTITIONS` in the code); instances lease partitions, not checks, so renewing costs at
-- most 256 rows whatever the number of checks. Times are milliseconds since the Unix epoch.
CREATE TABLE check_partitions (
    id          BIGINT PRIMARY KEY NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0
);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 255)
INSERT INTO check_partitions (id) SELECT i FROM n;
CREATE INDEX check_partitions_lease ON check_partitions (lease_until, id);

-- Monitor instances alive recently, to split partitions fairly between them; `yielding` is set
-- by an instance behind schedule that is giving work back.
CREATE TABLE monitor_instances (
    owner      TEXT PRIMARY KEY NOT NULL,
    seen_until BIGINT NOT NULL,
    yielding   INTEGER NOT NULL DEFAULT 0
);

-- `confirm: 1`: before a check is declared down, its owner asks another instance to probe it
-- once. One row per request; another instance takes it (`claimed_by`), probes, and answers.
CREATE TABLE check_confirmations (
    id            TEXT PRIMARY KEY NOT NULL,
    check_name    TEXT NOT NULL,
    requester     TEXT NOT NULL,
    requested_at  BIGINT NOT NULL,
    claimed_by    TEXT,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    result        TEXT CHECK (result IN ('success', 'failure')),
    answered_by   TEXT,
    answered_at   BIGINT
);
CREATE INDEX check_confirmations_open ON check_confirmations (requested_at) WHERE answered_at IS NULL;
