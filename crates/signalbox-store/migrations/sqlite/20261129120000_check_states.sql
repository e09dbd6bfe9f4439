-- Alert state of health checks, so a restart neither re-announces an outage nor forgets one.
-- Written on state changes only (not per run). Times are milliseconds since the Unix epoch.
CREATE TABLE check_states (
    name          TEXT PRIMARY KEY NOT NULL,
    health        TEXT NOT NULL CHECK (health IN ('unknown', 'healthy', 'failing')),
    last_alert_at BIGINT,
    updated_at    BIGINT NOT NULL
);
