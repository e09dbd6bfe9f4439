-- Accepted events and their deliveries (the outbox). Times are milliseconds since the Unix epoch.
-- Ids use the "C" collation so ordering (keyset pagination) is bytewise, as in SQLite.
CREATE TABLE events (
    id          TEXT COLLATE "C" PRIMARY KEY,
    source      TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    time        BIGINT NOT NULL,
    accepted_at BIGINT NOT NULL,
    body        TEXT NOT NULL
);

CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    event_id        TEXT COLLATE "C" NOT NULL,
    rule            TEXT NOT NULL,
    target          INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    age_from        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_error      TEXT,
    last_status     INTEGER,
    lease_owner     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0
);

-- Claiming walks pending deliveries in due order; done/dead rows never enter this index.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX deliveries_event ON deliveries (event_id);
-- Listing by state with keyset pagination on id, and counting per state.
CREATE INDEX deliveries_state ON deliveries (state, id);
