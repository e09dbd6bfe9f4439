-- Schedules and their fires. Times are milliseconds since the Unix epoch.
-- One row per schedule: its definition, who fires it (a lease), and how far it has fired.
CREATE TABLE schedules (
    name                TEXT PRIMARY KEY NOT NULL,
    source              TEXT NOT NULL CHECK (source IN ('config', 'api')),
    definition          TEXT NOT NULL,
    paused              INTEGER NOT NULL DEFAULT 0,
    version             BIGINT NOT NULL DEFAULT 1,
    lease_owner         TEXT,
    lease_until         BIGINT NOT NULL DEFAULT 0,
    last_scheduled_time BIGINT,
    last_fired_at       BIGINT,
    last_outcome        TEXT,
    anchor              BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX schedules_lease ON schedules (lease_until, name);
CREATE INDEX schedules_owner ON schedules (lease_owner);

-- The primary key is what makes a fire happen once: a second write of the same
-- (schedule, scheduled_time) conflicts and is dropped with its event.
CREATE TABLE schedule_fires (
    schedule       TEXT NOT NULL,
    scheduled_time BIGINT NOT NULL,
    fired_at       BIGINT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('fired', 'caught_up', 'suppressed')),
    event_id       TEXT,
    owner          TEXT NOT NULL,
    PRIMARY KEY (schedule, scheduled_time)
);

-- Scheduler instances alive recently, to split schedules fairly between them.
CREATE TABLE scheduler_instances (
    owner      TEXT PRIMARY KEY NOT NULL,
    seen_until BIGINT NOT NULL
);
