//! Statement text shared by both dialects. SQLite (through sqlx) and PostgreSQL both accept
//! `$N` placeholders, so only the claim query differs (`FOR UPDATE SKIP LOCKED`).

use std::fmt::Write as _;
use std::sync::LazyLock;

use crate::chunks::{SIZES, size_index};

/// Delivery columns in the order [`crate::rows::delivery`] decodes them, as a literal for `concat!`.
macro_rules! delivery_columns {
    () => {
        "id, event_id, rule, target, state, attempts, created_at, age_from, next_attempt_at, \
         updated_at, last_error, last_status"
    };
}

/// Builds one statement per chunk size.
fn per_size(build: impl Fn(usize) -> String) -> [String; SIZES.len()] {
    SIZES.map(build)
}

/// `$1` = now, `$2` = dedup cutoff, then 5 values per event: id, source, detail_type, time, body.
/// An existing id is replaced only when it was accepted before the cutoff; `RETURNING` yields the
/// ids actually written (inserted or replaced).
static INSERT_EVENTS: LazyLock<[String; SIZES.len()]> = LazyLock::new(|| {
    per_size(|rows| {
        let mut sql = String::from(
            "INSERT INTO events (id, source, detail_type, time, accepted_at, body) VALUES ",
        );
        for row in 0..rows {
            let p = 3 + row * 5;
            let sep = if row == 0 { "" } else { ", " };
            let _ = write!(
                sql,
                "{sep}(${}, ${}, ${}, ${}, $1, ${})",
                p,
                p + 1,
                p + 2,
                p + 3,
                p + 4
            );
        }
        sql.push_str(
            " ON CONFLICT (id) DO UPDATE SET source = excluded.source, \
             detail_type = excluded.detail_type, time = excluded.time, \
             accepted_at = excluded.accepted_at, body = excluded.body \
             WHERE events.accepted_at < $2 RETURNING id",
        );
        sql
    })
});

/// `$1` = now, then 4 values per delivery: id, event_id, rule, target.
static INSERT_DELIVERIES: LazyLock<[String; SIZES.len()]> = LazyLock::new(|| {
    per_size(|rows| {
        let mut sql = String::from(
            "INSERT INTO deliveries (id, event_id, rule, target, state, attempts, created_at, \
             age_from, next_attempt_at, updated_at) VALUES ",
        );
        for row in 0..rows {
            let p = 2 + row * 4;
            let sep = if row == 0 { "" } else { ", " };
            let _ = write!(
                sql,
                "{sep}(${}, ${}, ${}, ${}, 'pending', 0, $1, $1, $1, $1)",
                p,
                p + 1,
                p + 2,
                p + 3
            );
        }
        sql
    })
});

/// `$1..$n` = event ids.
static SELECT_EVENT_BODIES: LazyLock<[String; SIZES.len()]> = LazyLock::new(|| {
    per_size(|rows| {
        format!(
            "SELECT id, body, accepted_at FROM events WHERE id IN ({})",
            placeholders(1, rows)
        )
    })
});

/// `$1` = owner, `$2..` = delivery ids.
static RELEASE: LazyLock<[String; SIZES.len()]> = LazyLock::new(|| {
    per_size(|rows| {
        format!(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = 0 \
             WHERE lease_owner = $1 AND id IN ({})",
            placeholders(2, rows)
        )
    })
});

/// `$first, $first+1, …` — `count` placeholders.
fn placeholders(first: usize, count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}${}", first + i);
    }
    out
}

/// The upsert of `rows` events (a size from [`SIZES`]).
pub(crate) fn insert_events(rows: usize) -> &'static str {
    INSERT_EVENTS[size_index(rows)].as_str()
}

/// The insert of `rows` deliveries (a size from [`SIZES`]).
pub(crate) fn insert_deliveries(rows: usize) -> &'static str {
    INSERT_DELIVERIES[size_index(rows)].as_str()
}

/// The lookup of `rows` events' bodies (a size from [`SIZES`]).
pub(crate) fn select_event_bodies(rows: usize) -> &'static str {
    SELECT_EVENT_BODIES[size_index(rows)].as_str()
}

/// The lease release of `rows` deliveries (a size from [`SIZES`]).
pub(crate) fn release(rows: usize) -> &'static str {
    RELEASE[size_index(rows)].as_str()
}

/// `$1` = owner, `$2` = lease_until, `$3` = now, `$4` = limit.
pub(crate) const CLAIM_SQLITE: &str = concat!(
    "UPDATE deliveries SET lease_owner = $1, lease_until = $2 \
     WHERE id IN (SELECT id FROM deliveries \
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_upsert_numbers_parameters_after_now_and_cutoff() {
        let sql = insert_events(4);
        assert!(
            sql.contains("($3, $4, $5, $6, $1, $7), ($8, $9, $10, $11, $1, $12)"),
            "{sql}"
        );
        assert!(
            sql.contains("($18, $19, $20, $21, $1, $22) ON CONFLICT"),
            "{sql}"
        );
        assert!(sql.ends_with("WHERE events.accepted_at < $2 RETURNING id"));
    }

    #[test]
    fn delivery_insert_numbers_parameters_after_now() {
        let sql = insert_deliveries(1);
        assert!(
            sql.ends_with("VALUES ($2, $3, $4, $5, 'pending', 0, $1, $1, $1, $1)"),
            "{sql}"
        );
        let big = insert_deliveries(256);
        assert!(big.contains("$1025"));
        assert!(!big.contains("$1026"));
    }

    #[test]
    fn in_lists_have_one_placeholder_per_row() {
        assert!(select_event_bodies(4).ends_with("IN ($1, $2, $3, $4)"));
        assert!(release(1).ends_with("IN ($2)"));
    }
}
