//! Which instance runs which checks: check names hash into [`CHECK_PARTITIONS`] partitions,
//! and instances lease partitions rather than checks, so a renewal costs a few hundred rows at
//! most whatever the number of checks. Instances heartbeat (`monitor_instances`) so each can
//! take a fair share; one that is behind schedule says so (`yielding`) and the others share
//! out what it gives back.
//!
//! Statements use `$N` placeholders, which both dialects accept; the claim differs only by
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL.

use crate::Millis;

/// Partitions check names hash into. The migration creates exactly these rows.
pub const CHECK_PARTITIONS: u32 = 256;

/// What an instance needs to take its fair share of check partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonitorCensus {
    /// Monitor instances with a current heartbeat, the caller included.
    pub instances: u64,
    /// Of those, the ones giving work back because they are behind schedule.
    pub yielding: u64,
    /// Partitions in the store ([`CHECK_PARTITIONS`]).
    pub partitions: u64,
    /// The earliest end of a valid lease held by another instance: when a dead instance's
    /// partitions become claimable at the soonest.
    pub next_expiry: Option<Millis>,
}

/// A partition just claimed, with who held it before (a takeover when that was someone else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedPartition {
    /// `0..CHECK_PARTITIONS`.
    pub partition: u32,
    /// The previous lease owner, if any.
    pub previous_owner: Option<String>,
}

/// `$1` owner, `$2` seen_until, `$3` yielding.
pub(crate) const HEARTBEAT: &str = "INSERT INTO monitor_instances (owner, seen_until, yielding) \
     VALUES ($1, $2, $3) ON CONFLICT (owner) DO UPDATE SET seen_until = excluded.seen_until, \
     yielding = excluded.yielding";
/// `$1` cutoff: instances silent for long are forgotten.
pub(crate) const FORGET_INSTANCES: &str = "DELETE FROM monitor_instances WHERE seen_until < $1";
/// `$1` now.
pub(crate) const COUNT_INSTANCES: &str = "SELECT COUNT(*), \
     COALESCE(SUM(CASE WHEN yielding THEN 1 ELSE 0 END), 0) \
     FROM monitor_instances WHERE seen_until > $1";
/// `$1` owner, `$2` now.
pub(crate) const PARTITION_CENSUS: &str = "SELECT COUNT(*), \
     MIN(CASE WHEN lease_until > $2 AND lease_owner <> $1 THEN lease_until END) \
     FROM check_partitions";
/// `$1` owner.
pub(crate) const FORGET_INSTANCE: &str = "DELETE FROM monitor_instances WHERE owner = $1";

/// `$1` now, `$2` limit: partitions nobody holds a valid lease on, those free longest first.
pub(crate) const CLAIMABLE_SQLITE: &str = "SELECT id, lease_owner FROM check_partitions \
     WHERE lease_until <= $1 ORDER BY lease_until, id LIMIT $2";
pub(crate) const CLAIMABLE_POSTGRES: &str = "SELECT id, lease_owner FROM check_partitions \
     WHERE lease_until <= $1 ORDER BY lease_until, id LIMIT $2 FOR UPDATE SKIP LOCKED";
/// `$1` id, `$2` owner, `$3` lease_until, `$4` now.
pub(crate) const CLAIM_ONE: &str = "UPDATE check_partitions SET lease_owner = $2, lease_until = $3 \
     WHERE id = $1 AND lease_until <= $4";
/// `$1` owner, `$2` now, `$3` lease_until: only valid leases are renewed — one that expired
/// may have been taken and run by another instance in between, so it must be claimed again.
pub(crate) const RENEW: &str = "UPDATE check_partitions SET lease_until = $3 \
     WHERE lease_owner = $1 AND lease_until > $2 RETURNING id";
/// `$1` owner.
pub(crate) const RELEASE_ALL: &str =
    "UPDATE check_partitions SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = $1";
/// `$1` owner, `$2` id.
pub(crate) const RELEASE_ONE: &str = "UPDATE check_partitions SET lease_owner = NULL, \
     lease_until = 0 WHERE lease_owner = $1 AND id = $2";

/// A request, taken by another instance, to probe a check once (`confirm: 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationRequest {
    /// The request's id.
    pub id: String,
    /// The check to probe.
    pub check: String,
    /// The instance asking.
    pub requester: String,
}

/// A confirmation request as stored, answered or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationRow {
    /// The request's id.
    pub id: String,
    /// The check to probe.
    pub check: String,
    /// `Some(true)`: the other instance's probe succeeded; `Some(false)`: it failed too; `None`:
    /// no answer yet.
    pub success: Option<bool>,
    /// The instance that answered.
    pub answered_by: Option<String>,
}

/// `$1` id, `$2` check, `$3` requester, `$4` now.
pub(crate) const REQUEST_CONFIRMATION: &str = "INSERT INTO check_confirmations \
     (id, check_name, requester, requested_at) VALUES ($1, $2, $3, $4)";
/// `$1` cutoff: requests older than this are forgotten.
pub(crate) const FORGET_CONFIRMATIONS: &str =
    "DELETE FROM check_confirmations WHERE requested_at < $1";
/// `$1` owner, `$2` now, `$3` oldest request still worth answering, `$4` limit.
pub(crate) const OPEN_CONFIRMATIONS_SQLITE: &str = "SELECT id, check_name, requester \
     FROM check_confirmations WHERE answered_at IS NULL AND requester <> $1 \
     AND claimed_until <= $2 AND requested_at >= $3 ORDER BY requested_at, id LIMIT $4";
pub(crate) const OPEN_CONFIRMATIONS_POSTGRES: &str = "SELECT id, check_name, requester \
     FROM check_confirmations WHERE answered_at IS NULL AND requester <> $1 \
     AND claimed_until <= $2 AND requested_at >= $3 ORDER BY requested_at, id LIMIT $4 \
     FOR UPDATE SKIP LOCKED";
/// `$1` id, `$2` owner, `$3` claimed_until, `$4` now.
pub(crate) const CLAIM_CONFIRMATION: &str = "UPDATE check_confirmations \
     SET claimed_by = $2, claimed_until = $3 \
     WHERE id = $1 AND answered_at IS NULL AND claimed_until <= $4";
/// `$1` id, `$2` owner, `$3` result, `$4` now: only the instance that took the request answers.
pub(crate) const ANSWER_CONFIRMATION: &str = "UPDATE check_confirmations \
     SET result = $3, answered_by = $2, answered_at = $4 \
     WHERE id = $1 AND claimed_by = $2 AND answered_at IS NULL";
/// `$1` id.
pub(crate) const SELECT_CONFIRMATION: &str =
    "SELECT id, check_name, result, answered_by FROM check_confirmations WHERE id = $1";

/// How long a taken request stays with the instance that took it before another may take it.
pub(crate) const CONFIRMATION_CLAIM_MS: i64 = 30_000;

/// Narrows a stored partition id.
pub(crate) fn partition(id: i64) -> Result<u32, crate::StoreError> {
    u32::try_from(id)
        .map_err(|_| crate::StoreError::Database(format!("check partition {id} is out of range")))
}

/// The check lease methods of a backend: `$writer` is a pool, `$begin` opens a write
/// transaction on it, `$claimable` selects claimable partitions.
macro_rules! check_lease_methods {
    ($store:ty, writer = $writer:ident, begin = $begin:expr, claimable = $claimable:expr, open_confirmations = $open:expr) => {
        impl $store {
            pub(crate) async fn request_check_confirmation_impl(
                &self,
                id: &str,
                check: &str,
                requester: &str,
                now: $crate::Millis,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::check_leases::REQUEST_CONFIRMATION)
                    .bind(id)
                    .bind(check)
                    .bind(requester)
                    .bind(now)
                    .execute(&self.$writer)
                    .await?;
                Ok(())
            }

            pub(crate) async fn claim_check_confirmations_impl(
                &self,
                owner: &str,
                now: $crate::Millis,
                max_age: $crate::Millis,
                limit: u32,
            ) -> Result<Vec<$crate::check_leases::ConfirmationRequest>, $crate::StoreError> {
                use sqlx::Row as _;
                let mut tx = ($begin)(&self.$writer).await?;
                // An hour is far beyond any wait for an answer.
                sqlx::query($crate::check_leases::FORGET_CONFIRMATIONS)
                    .bind(now - 3_600_000)
                    .execute(&mut *tx)
                    .await?;
                let candidates = sqlx::query($open)
                    .bind(owner)
                    .bind(now)
                    .bind(now - max_age)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut claimed = Vec::with_capacity(candidates.len());
                for c in &candidates {
                    let id: String = c.try_get(0)?;
                    let done = sqlx::query($crate::check_leases::CLAIM_CONFIRMATION)
                        .bind(id.as_str())
                        .bind(owner)
                        .bind(now + $crate::check_leases::CONFIRMATION_CLAIM_MS)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 1 {
                        claimed.push($crate::check_leases::ConfirmationRequest {
                            id,
                            check: c.try_get(1)?,
                            requester: c.try_get(2)?,
                        });
                    }
                }
                tx.commit().await?;
                Ok(claimed)
            }

            pub(crate) async fn answer_check_confirmation_impl(
                &self,
                id: &str,
                owner: &str,
                success: bool,
                now: $crate::Millis,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::check_leases::ANSWER_CONFIRMATION)
                    .bind(id)
                    .bind(owner)
                    .bind(if success { "success" } else { "failure" })
                    .bind(now)
                    .execute(&self.$writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn check_confirmation_impl(
                &self,
                id: &str,
            ) -> Result<Option<$crate::check_leases::ConfirmationRow>, $crate::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query($crate::check_leases::SELECT_CONFIRMATION)
                    .bind(id)
                    .fetch_optional(&self.$writer)
                    .await?;
                row.map(|r| {
                    let result: Option<String> = r.try_get(2)?;
                    Ok($crate::check_leases::ConfirmationRow {
                        id: r.try_get(0)?,
                        check: r.try_get(1)?,
                        success: result.map(|r| r == "success"),
                        answered_by: r.try_get(3)?,
                    })
                })
                .transpose()
            }

            pub(crate) async fn monitor_heartbeat_impl(
                &self,
                owner: &str,
                now: $crate::Millis,
                until: $crate::Millis,
                yielding: bool,
            ) -> Result<$crate::check_leases::MonitorCensus, $crate::StoreError> {
                use sqlx::Row as _;
                let mut tx = ($begin)(&self.$writer).await?;
                sqlx::query($crate::check_leases::HEARTBEAT)
                    .bind(owner)
                    .bind(until)
                    .bind(yielding)
                    .execute(&mut *tx)
                    .await?;
                // An hour of silence: that instance is gone, not stalled.
                sqlx::query($crate::check_leases::FORGET_INSTANCES)
                    .bind(now - 3_600_000)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query($crate::check_leases::COUNT_INSTANCES)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let instances: i64 = row.try_get(0)?;
                let yielding: i64 = row.try_get(1)?;
                let row = sqlx::query($crate::check_leases::PARTITION_CENSUS)
                    .bind(owner)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let partitions: i64 = row.try_get(0)?;
                let next_expiry: Option<i64> = row.try_get(1)?;
                tx.commit().await?;
                Ok($crate::check_leases::MonitorCensus {
                    instances: u64::try_from(instances).unwrap_or(0).max(1),
                    yielding: u64::try_from(yielding).unwrap_or(0),
                    partitions: u64::try_from(partitions).unwrap_or(0),
                    next_expiry,
                })
            }

            pub(crate) async fn claim_check_partitions_impl(
                &self,
                owner: &str,
                now: $crate::Millis,
                lease_until: $crate::Millis,
                limit: u32,
            ) -> Result<Vec<$crate::check_leases::ClaimedPartition>, $crate::StoreError> {
                use sqlx::Row as _;
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let mut tx = ($begin)(&self.$writer).await?;
                let candidates = sqlx::query($claimable)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut claimed = Vec::with_capacity(candidates.len());
                for c in &candidates {
                    let id: i64 = c.try_get(0)?;
                    let previous_owner: Option<String> = c.try_get(1)?;
                    let done = sqlx::query($crate::check_leases::CLAIM_ONE)
                        .bind(id)
                        .bind(owner)
                        .bind(lease_until)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 1 {
                        claimed.push($crate::check_leases::ClaimedPartition {
                            partition: $crate::check_leases::partition(id)?,
                            previous_owner,
                        });
                    }
                }
                tx.commit().await?;
                Ok(claimed)
            }

            pub(crate) async fn renew_check_partitions_impl(
                &self,
                owner: &str,
                now: $crate::Millis,
                lease_until: $crate::Millis,
            ) -> Result<Vec<u32>, $crate::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query($crate::check_leases::RENEW)
                    .bind(owner)
                    .bind(now)
                    .bind(lease_until)
                    .fetch_all(&self.$writer)
                    .await?;
                let mut held = rows
                    .iter()
                    .map(|r| $crate::check_leases::partition(r.try_get::<i64, _>(0)?))
                    .collect::<Result<Vec<_>, $crate::StoreError>>()?;
                held.sort_unstable();
                Ok(held)
            }

            pub(crate) async fn release_check_partitions_impl(
                &self,
                owner: &str,
                partitions: Option<&[u32]>,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = ($begin)(&self.$writer).await?;
                match partitions {
                    None => {
                        sqlx::query($crate::check_leases::RELEASE_ALL)
                            .bind(owner)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query($crate::check_leases::FORGET_INSTANCE)
                            .bind(owner)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Some(partitions) => {
                        for p in partitions {
                            sqlx::query($crate::check_leases::RELEASE_ONE)
                                .bind(owner)
                                .bind(i64::from(*p))
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(crate) use check_lease_methods;
