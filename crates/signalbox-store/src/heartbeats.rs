//! Heartbeat pings: one row per heartbeat check, upserted by each ping (`success`, `start` or
//! `fail`) and read when the check is evaluated. Pings go to the database, not to memory, so
//! with several instances on one PostgreSQL the ping may land on any of them. Statements use
//! `$N` placeholders, `ON CONFLICT … DO UPDATE` and `RETURNING`, which both dialects accept.

use crate::Millis;

/// Longest `/fail` body kept, in bytes; the rest is cut at a character boundary.
pub const MAX_FAIL_BODY: usize = 4096;

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeartbeatSignal {
    /// `POST /v1/heartbeats/{name}`: the job completed.
    Success,
    /// `/start`: the job began; a success must follow within the grace time.
    Start,
    /// `/fail`: the job reported a failure.
    Fail,
}

impl HeartbeatSignal {
    /// The name stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            HeartbeatSignal::Success => "success",
            HeartbeatSignal::Start => "start",
            HeartbeatSignal::Fail => "fail",
        }
    }

    /// Parses [`HeartbeatSignal::as_str`] back.
    pub fn parse(s: &str) -> Option<HeartbeatSignal> {
        match s {
            "success" => Some(HeartbeatSignal::Success),
            "start" => Some(HeartbeatSignal::Start),
            "fail" => Some(HeartbeatSignal::Fail),
            _ => None,
        }
    }
}

/// A heartbeat's pings as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRow {
    /// The check's name.
    pub name: String,
    /// The latest signal.
    pub last_kind: HeartbeatSignal,
    /// When the latest signal came.
    pub last_signal_at: Millis,
    /// The latest success ping.
    pub last_ping_at: Option<Millis>,
    /// The latest `/start`.
    pub last_start_at: Option<Millis>,
    /// The latest `/fail`.
    pub last_fail_at: Option<Millis>,
    /// The body of the latest `/fail` (at most [`MAX_FAIL_BODY`] bytes), when it had one.
    pub last_fail_body: Option<String>,
    /// Signals received, of all kinds.
    pub pings: i64,
}

/// Keeps at most [`MAX_FAIL_BODY`] bytes, cut at a character boundary.
pub(crate) fn clip(body: &str) -> &str {
    if body.len() <= MAX_FAIL_BODY {
        return body;
    }
    let mut end = MAX_FAIL_BODY;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

// Each signal sets its own time and leaves the others' alone; a fail replaces the fail body.
pub(crate) const UPSERT: &str = "INSERT INTO heartbeats (name, last_kind, last_signal_at, \
     last_ping_at, last_start_at, last_fail_at, last_fail_body, pings) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 1) \
     ON CONFLICT (name) DO UPDATE SET last_kind = excluded.last_kind, \
     last_signal_at = excluded.last_signal_at, \
     last_ping_at = COALESCE(excluded.last_ping_at, heartbeats.last_ping_at), \
     last_start_at = COALESCE(excluded.last_start_at, heartbeats.last_start_at), \
     last_fail_at = COALESCE(excluded.last_fail_at, heartbeats.last_fail_at), \
     last_fail_body = CASE WHEN excluded.last_fail_at IS NULL THEN heartbeats.last_fail_body \
     ELSE excluded.last_fail_body END, \
     pings = heartbeats.pings + 1 \
     RETURNING name, last_kind, last_signal_at, last_ping_at, last_start_at, last_fail_at, \
     last_fail_body, pings";

pub(crate) const SELECT_ONE: &str = "SELECT name, last_kind, last_signal_at, last_ping_at, \
     last_start_at, last_fail_at, last_fail_body, pings FROM heartbeats WHERE name = $1";

/// `record_heartbeat` / `heartbeat` for a store with pools `$writer` and `$reader` whose
/// rows are `$row`.
macro_rules! heartbeat_methods {
    ($store:ty, writer = $writer:ident, reader = $reader:ident, row = $row:ty) => {
        impl $store {
            pub(crate) async fn record_heartbeat_impl(
                &self,
                name: &str,
                signal: $crate::heartbeats::HeartbeatSignal,
                body: Option<&str>,
                now: $crate::Millis,
            ) -> Result<$crate::heartbeats::HeartbeatRow, $crate::StoreError> {
                use $crate::heartbeats::HeartbeatSignal as S;
                let at = |kind: S| (signal == kind).then_some(now);
                let body = match signal {
                    S::Fail => body.map($crate::heartbeats::clip),
                    _ => None,
                };
                let row = sqlx::query($crate::heartbeats::UPSERT)
                    .bind(name)
                    .bind(signal.as_str())
                    .bind(now)
                    .bind(at(S::Success))
                    .bind(at(S::Start))
                    .bind(at(S::Fail))
                    .bind(body)
                    .fetch_one(&self.$writer)
                    .await?;
                Self::heartbeat_row(&row)
            }

            pub(crate) async fn heartbeat_impl(
                &self,
                name: &str,
            ) -> Result<Option<$crate::heartbeats::HeartbeatRow>, $crate::StoreError> {
                let row = sqlx::query($crate::heartbeats::SELECT_ONE)
                    .bind(name)
                    .fetch_optional(&self.$reader)
                    .await?;
                row.as_ref().map(Self::heartbeat_row).transpose()
            }

            fn heartbeat_row(
                row: &$row,
            ) -> Result<$crate::heartbeats::HeartbeatRow, $crate::StoreError> {
                use sqlx::Row as _;
                let kind: String = row.try_get(1)?;
                Ok($crate::heartbeats::HeartbeatRow {
                    name: row.try_get(0)?,
                    last_kind: $crate::heartbeats::HeartbeatSignal::parse(&kind).ok_or_else(
                        || {
                            $crate::StoreError::Database(format!(
                                "heartbeats.last_kind \"{kind}\" is unknown"
                            ))
                        },
                    )?,
                    last_signal_at: row.try_get(2)?,
                    last_ping_at: row.try_get(3)?,
                    last_start_at: row.try_get(4)?,
                    last_fail_at: row.try_get(5)?,
                    last_fail_body: row.try_get(6)?,
                    pings: row.try_get(7)?,
                })
            }
        }
    };
}
pub(crate) use heartbeat_methods;

#[cfg(test)]
mod tests {
    #[test]
    fn clip_cuts_at_a_character_boundary() {
        assert_eq!(super::clip("short"), "short");
        let long = "é".repeat(super::MAX_FAIL_BODY);
        let clipped = super::clip(&long);
        assert!(clipped.len() <= super::MAX_FAIL_BODY);
        assert!(clipped.len() >= super::MAX_FAIL_BODY - 1);
        assert!(clipped.chars().all(|c| c == 'é'));
    }
}
