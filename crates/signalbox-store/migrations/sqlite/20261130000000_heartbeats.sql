-- Heartbeat pings (`POST /v1/heartbeats/{name}`, `/start`, `/fail`): one row per heartbeat
-- check, written by whichever instance received the ping and read by whichever runs the check.
-- Times are milliseconds since the Unix epoch.
CREATE TABLE heartbeats (
    name           TEXT PRIMARY KEY NOT NULL,
    -- The latest signal and when it came, so a /start or /fail after a ping is seen as such.
    last_kind      TEXT NOT NULL CHECK (last_kind IN ('success', 'start', 'fail')),
    last_signal_at BIGINT NOT NULL,
    last_ping_at   BIGINT,
    last_start_at  BIGINT,
    last_fail_at   BIGINT,
    last_fail_body TEXT,
    pings          BIGINT NOT NULL
);
