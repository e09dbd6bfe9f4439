//! Statement text. Single-row statements are shared: SQLite (through sqlx) and PostgreSQL both
//! accept `$N` placeholders, and only the claim differs (`FOR UPDATE SKIP LOCKED`). Multi-row
//! statements differ per dialect; they live in [`batch`].

pub(crate) mod batch;

/// Delivery columns in the order [`crate::rows::delivery`] decodes them, as a literal for `concat!`.
macro_rules! delivery_columns {
    () => {
        "id, event_id, rule, target, state, attempts, created_at, age_from, next_attempt_at, \
         updated_at, last_error, last_status"
    };
}

/// `$1` = owner, `$2` = lease_until, `$3` = now, `$4` = limit. `INDEXED BY`: see
/// [`PENDING_HEAD_SQLITE`].
pub(crate) const CLAIM_SQLITE: &str = concat!(
    "UPDATE deliveries SET lease_owner = $1, lease_until = $2 \
     WHERE id IN (SELECT id FROM deliveries INDEXED BY deliveries_due \
         WHERE state = 'pending' AND next_attempt_at <= $3 AND lease_until <= $3 \
         ORDER BY next_attempt_at, id LIMIT $4) \
     RETURNING ",
    delivery_columns!()
);

/// As [`CLAIM_SQLITE`]; rows another transaction is claiming are skipped, not waited for.
pub(crate) const CLAIM_POSTGRES: &str = concat!(
    "UPDATE deliveries SET lease_owner = $1, lease_until = $2 \
     WHERE id IN (SELECT id FROM deliveries \
         WHERE state = 'pending' AND next_attempt_at <= $3 AND lease_until <= $3 \
         ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
     RETURNING ",
    delivery_columns!()
);

/// `$1` = id, `$2` = owner, `$3` = new state, `$4` = now, `$5` = next_attempt_at (NULL keeps
/// it), `$6` = last_error, `$7` = last_status.
pub(crate) const RECORD_ATTEMPT: &str = "UPDATE deliveries SET state = $3, attempts = attempts + 1, \
     updated_at = $4, next_attempt_at = COALESCE($5, next_attempt_at), last_error = $6, \
     last_status = $7, lease_owner = NULL, lease_until = 0 \
     WHERE id = $1 AND lease_owner = $2 AND state = 'pending'";

/// `$1` = id, `$2` = now.
pub(crate) const RETRY_DELIVERY: &str = concat!(
    "UPDATE deliveries SET state = 'pending', attempts = 0, \
     age_from = $2, next_attempt_at = $2, updated_at = $2, lease_owner = NULL, lease_until = 0 \
     WHERE id = $1 \
     RETURNING ",
    delivery_columns!()
);

/// `$1` = event id.
pub(crate) const SELECT_EVENT_BODY: &str = "SELECT body, accepted_at FROM events WHERE id = $1";

/// `$1` = id.
pub(crate) const SELECT_EVENT: &str =
    "SELECT id, source, detail_type, time, accepted_at, body FROM events WHERE id = $1";

/// `$1` = event id.
pub(crate) const SELECT_EVENT_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM deliveries WHERE event_id = $1 ORDER BY created_at, id"
);

/// `$1` = id.
pub(crate) const SELECT_DELIVERY: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM deliveries WHERE id = $1"
);

/// Keyset pages: one static statement per (state filter, cursor) combination so each can use
/// its index. Parameters in the order state, after, limit (absent ones skipped).
pub(crate) fn list_deliveries(by_state: bool, after: bool) -> &'static str {
    match (by_state, after) {
        (true, true) => {
            concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM deliveries \
             WHERE state = $1 AND id > $2 ORDER BY id LIMIT $3"
            )
        }
        (true, false) => {
            concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM deliveries \
             WHERE state = $1 ORDER BY id LIMIT $2"
            )
        }
        (false, true) => {
            concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM deliveries \
             WHERE id > $1 ORDER BY id LIMIT $2"
            )
        }
        (false, false) => {
            concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM deliveries \
             ORDER BY id LIMIT $1"
            )
        }
    }
}

/// Per-state counts.
pub(crate) const COUNT_BY_STATE: &str = "SELECT state, COUNT(*) FROM deliveries GROUP BY state";

/// The first pending deliveries in due order, with their leases, for [`crate::due`].
/// `$1` = how many.
pub(crate) const PENDING_HEAD: &str = "SELECT next_attempt_at, lease_until FROM deliveries \
     WHERE state = 'pending' ORDER BY next_attempt_at, id LIMIT $1";

/// [`PENDING_HEAD`] for SQLite, which needs telling: with no statistics its planner prefers
/// `deliveries_state` (state = ?) and then sorts every pending row, so each claim and each
/// look-ahead cost grew with the backlog (a 50,000-delivery backlog made them milliseconds).
/// `INDEXED BY` also makes the statement fail, not slow down, if the index goes missing.
pub(crate) const PENDING_HEAD_SQLITE: &str = "SELECT next_attempt_at, lease_until \
     FROM deliveries INDEXED BY deliveries_due \
     WHERE state = 'pending' ORDER BY next_attempt_at, id LIMIT $1";
