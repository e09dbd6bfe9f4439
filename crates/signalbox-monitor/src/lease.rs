//! Which checks this instance runs. Check names hash into [`CHECK_PARTITIONS`] partitions;
//! instances lease partitions in the store (PostgreSQL shares them between instances, SQLite
//! has one instance holding all, through the same code), so renewing costs at most a few
//! hundred rows whatever the number of checks.
//!
//! The upkeep task heartbeats, renews every third of `monitor.lease_ttl`, claims up to a fair
//! share (`ceil(partitions / instances not yielding)` plus 10% slack, as the scheduler), gives
//! back what exceeds it, and wakes when another instance's lease is due to expire so a dead
//! instance's checks move as soon as its leases lapse. It keeps each held partition's deadline
//! in memory ([`Leases`]), a little before the lease's end in the store; the run loop checks it
//! before every run, so an instance that stalled past its leases (SIGSTOP, a frozen VM) runs
//! nothing of what it may have lost, even before it learns it lost it.
//!
//! A newly claimed partition's checks take their alert state from the store (`check_states`),
//! not from memory: another instance may have changed it since.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use signalbox_core::metric_names as m;
use signalbox_core::time::{Millis, now_millis};
use signalbox_store::{CHECK_PARTITIONS, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alert::AlertState;
use crate::cadence::fnv1a;
use crate::state_store::StateStore;

/// The partition a check belongs to: the name's FNV-1a hash, mixed (FNV's high bits barely
/// change between `check-1` and `check-2`, and its low bits already place the check within its
/// period), modulo [`CHECK_PARTITIONS`]. Stable across builds: every instance agrees.
pub fn partition_of(name: &str) -> u32 {
    // The 64-bit finalizer of MurmurHash3.
    let mut h = fnv1a(name.as_bytes());
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h % u64::from(CHECK_PARTITIONS)) as u32
}

/// The in-memory end of each held partition's lease (Unix ms; 0 when not held), shared by the
/// upkeep task (which sets it) and the run loop (which checks it before each run).
#[derive(Debug)]
pub struct Leases(Vec<AtomicI64>);

impl Default for Leases {
    fn default() -> Self {
        Leases((0..CHECK_PARTITIONS).map(|_| AtomicI64::new(0)).collect())
    }
}

impl Leases {
    /// Whether `partition`'s checks may run at `now`.
    pub fn valid(&self, partition: u32, now: Millis) -> bool {
        self.0
            .get(partition as usize)
            .is_some_and(|d| d.load(Ordering::Acquire) > now)
    }

    fn set(&self, partition: u32, deadline: Millis) {
        if let Some(d) = self.0.get(partition as usize) {
            d.store(deadline, Ordering::Release);
        }
    }

    fn clear(&self, partition: u32) {
        self.set(partition, 0);
    }
}

/// What the upkeep task tells the run loop.
#[derive(Debug)]
pub(crate) enum LeaseReport {
    /// Every partition still validly held after a renewal, sorted: an active partition missing
    /// here is lost.
    Held(Vec<u32>),
    /// Newly held partitions, with the stored alert state of their checks (by name; a check
    /// without a row starts `unknown`).
    Gained {
        partitions: Vec<u32>,
        states: HashMap<String, AlertState>,
    },
}

/// What the run loop asks of the upkeep task.
#[derive(Debug)]
pub(crate) enum LeaseRequest {
    /// Behind schedule in a cluster: give back a quarter of the partitions and claim none for
    /// the cool-down, so other instances take them.
    Yield,
}

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// This process's lease owner name; unique per process.
    pub owner: String,
    /// `monitor.lease_ttl`.
    pub ttl: Duration,
    /// How long an instance that yielded claims nothing.
    pub cooldown: Duration,
}

pub(crate) struct Upkeep {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) states: Arc<dyn StateStore>,
    pub(crate) opts: LeaseOptions,
    pub(crate) leases: Arc<Leases>,
    pub(crate) reports: mpsc::UnboundedSender<LeaseReport>,
    pub(crate) requests: mpsc::UnboundedReceiver<LeaseRequest>,
    /// Live instances at the last census, for the loop (yielding only helps in a cluster).
    pub(crate) instances: Arc<AtomicU64>,
    pub(crate) held: BTreeSet<u32>,
    /// Claimed, but the checks' states are not loaded yet: not reported, so not run.
    pub(crate) unloaded: BTreeSet<u32>,
    pub(crate) yielding_until: Option<Millis>,
}

impl Upkeep {
    pub(crate) async fn run(mut self, stop: CancellationToken) {
        let period = (self.opts.ttl / 3).max(Duration::from_millis(50));
        let mut wake = tokio::time::Instant::now();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                request = self.requests.recv() => match request {
                    Some(LeaseRequest::Yield) => self.give_back_a_quarter().await,
                    None => break,
                },
                () = tokio::time::sleep_until(wake) => {}
            }
            let next = tokio::select! {
                biased;
                () = stop.cancelled() => break,
                next = self.round() => next,
            };
            let now = now_millis();
            let soon = next.map_or(period, |at| {
                Duration::from_millis(u64::try_from(at - now).unwrap_or(0)).min(period)
            });
            wake = tokio::time::Instant::now() + soon;
        }
        for p in std::mem::take(&mut self.held) {
            self.leases.clear(p);
        }
        if let Err(error) = self
            .store
            .release_check_partitions(&self.opts.owner, None)
            .await
        {
            tracing::warn!(%error, "releasing check partitions failed; they expire on their own");
        }
    }

    fn lease_ms(&self) -> Millis {
        i64::try_from(self.opts.ttl.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// The in-memory deadline of a lease ending at `until`: a tenth earlier (at least 50 ms),
    /// for a run that starts just before it and clocks that differ a little between hosts.
    fn deadline(&self, until: Millis) -> Millis {
        until - (self.lease_ms() / 10).max(50)
    }

    /// One heartbeat + renewal + claim round; returns when to look again sooner than a third
    /// of the lease (another instance's lease expiring while we are below our share).
    async fn round(&mut self) -> Option<Millis> {
        let owner = self.opts.owner.clone();
        let now = now_millis();
        let until = now + self.lease_ms();
        let yielding = self.yielding_until.is_some_and(|t| now < t);
        if !yielding {
            self.yielding_until = None;
        }
        let census = match self
            .store
            .monitor_heartbeat(&owner, now, until, yielding)
            .await
        {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, "monitor heartbeat failed");
                return None;
            }
        };
        self.instances.store(census.instances, Ordering::Relaxed);
        let renewed = match self.store.renew_check_partitions(&owner, now, until).await {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%error, "renewing check partitions failed");
                return None;
            }
        };
        let deadline = self.deadline(until);
        for p in &renewed {
            self.leases.set(*p, deadline);
        }
        let renewed_set: BTreeSet<u32> = renewed.iter().copied().collect();
        for p in self.held.difference(&renewed_set) {
            self.leases.clear(*p);
            self.unloaded.remove(p);
            tracing::info!(partition = p, "check partition lease lost");
        }
        self.held = renewed_set;
        if self.reports.send(LeaseReport::Held(renewed)).is_err() {
            return None;
        }

        // Instances behind schedule give work back; the others share it out.
        let others_yielding = census.yielding.saturating_sub(u64::from(yielding));
        let active = census.instances.saturating_sub(others_yielding).max(1);
        let share = census.partitions.div_ceil(active);
        let slack = (share / 10).max(1);
        let count = self.held.len() as u64;
        let mut below_share = false;
        if !yielding && count < share + slack {
            below_share = true;
            let limit = u32::try_from(share + slack - count).unwrap_or(CHECK_PARTITIONS);
            let now = now_millis();
            let until = now + self.lease_ms();
            match self
                .store
                .claim_check_partitions(&owner, now, until, limit)
                .await
            {
                Ok(claimed) => {
                    let deadline = self.deadline(until);
                    for c in claimed {
                        if c.previous_owner.as_deref().is_some_and(|p| p != owner) {
                            metrics::counter!(m::MONITOR_PARTITION_TAKEOVERS).increment(1);
                            tracing::info!(partition = c.partition, from = ?c.previous_owner, "check partition taken over");
                        }
                        self.leases.set(c.partition, deadline);
                        self.held.insert(c.partition);
                        self.unloaded.insert(c.partition);
                    }
                }
                Err(error) => tracing::warn!(%error, "claiming check partitions failed"),
            }
        } else if count > share + slack {
            let excess = usize::try_from(count - share).unwrap_or(0);
            self.release_last(
                excess,
                "giving back check partitions above this instance's share",
            )
            .await;
        }
        self.load_gained().await;
        metrics::gauge!(m::MONITOR_PARTITIONS).set(self.held.len() as f64);
        // Below our share, look again just after the next lease of another instance expires:
        // a dead instance's checks then move within the lease, not a third of it later.
        census.next_expiry.filter(|_| below_share).map(|t| t + 20)
    }

    /// Reports the claimed partitions whose checks' states could be read.
    async fn load_gained(&mut self) {
        if self.unloaded.is_empty() {
            return;
        }
        match self.states.load().await {
            Ok(all) => {
                let partitions: Vec<u32> = std::mem::take(&mut self.unloaded).into_iter().collect();
                let states = all
                    .into_iter()
                    .filter(|(name, _)| partitions.binary_search(&partition_of(name)).is_ok())
                    .collect();
                let _ = self
                    .reports
                    .send(LeaseReport::Gained { partitions, states });
            }
            Err(error) => {
                // Held but not run until the states are known: running from `unknown` could
                // repeat or miss an alert of the previous owner.
                tracing::warn!(%error, partitions = self.unloaded.len(), "check states cannot be read; newly held checks wait");
            }
        }
    }

    async fn give_back_a_quarter(&mut self) {
        let count = self.held.len().div_ceil(4);
        self.release_last(count, "behind schedule: giving back check partitions")
            .await;
        self.yielding_until =
            Some(now_millis() + i64::try_from(self.opts.cooldown.as_millis()).unwrap_or(0));
        metrics::gauge!(m::MONITOR_PARTITIONS).set(self.held.len() as f64);
    }

    /// Stops running, then releases, the `count` highest-numbered held partitions.
    async fn release_last(&mut self, count: usize, why: &'static str) {
        let give: Vec<u32> = self.held.iter().rev().take(count).copied().collect();
        if give.is_empty() {
            return;
        }
        // Cleared first: the loop must not run them once another instance may hold them.
        for p in &give {
            self.leases.clear(*p);
            self.held.remove(p);
            self.unloaded.remove(p);
        }
        tracing::info!(count = give.len(), "{why}");
        if let Err(error) = self
            .store
            .release_check_partitions(&self.opts.owner, Some(&give))
            .await
        {
            tracing::warn!(%error, "releasing check partitions failed; they expire on their own");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_names() {
        let mut counts = vec![0u32; CHECK_PARTITIONS as usize];
        for i in 0..25_600 {
            counts[partition_of(&format!("check-{i}")) as usize] += 1;
        }
        // About 100 per partition.
        assert!(counts.iter().all(|&n| (50..160).contains(&n)), "{counts:?}");
        assert_eq!(partition_of("api"), partition_of("api"));
    }

    struct Instance {
        upkeep: Upkeep,
        reports: mpsc::UnboundedReceiver<LeaseReport>,
        _requests: mpsc::UnboundedSender<LeaseRequest>,
    }

    impl Instance {
        fn new(store: &Arc<dyn Store>, owner: &str, ttl_ms: u64, cooldown_ms: u64) -> Instance {
            let (report_tx, reports) = mpsc::unbounded_channel();
            let (request_tx, requests) = mpsc::unbounded_channel();
            Instance {
                upkeep: Upkeep {
                    store: Arc::clone(store),
                    states: Arc::new(crate::state_store::MemoryStates::default()),
                    opts: LeaseOptions {
                        owner: owner.into(),
                        ttl: Duration::from_millis(ttl_ms),
                        cooldown: Duration::from_millis(cooldown_ms),
                    },
                    leases: Arc::new(Leases::default()),
                    reports: report_tx,
                    requests,
                    instances: Arc::new(AtomicU64::new(0)),
                    held: BTreeSet::new(),
                    unloaded: BTreeSet::new(),
                    yielding_until: None,
                },
                reports,
                _requests: request_tx,
            }
        }

        fn held(&self) -> usize {
            self.upkeep.held.len()
        }

        fn runs(&self, p: u32) -> bool {
            self.upkeep.leases.valid(p, now_millis())
        }

        /// Partitions reported gained so far.
        fn gained(&mut self) -> usize {
            let mut n = 0;
            while let Ok(r) = self.reports.try_recv() {
                if let LeaseReport::Gained { partitions, .. } = r {
                    n += partitions.len();
                }
            }
            n
        }
    }

    #[tokio::test]
    async fn instances_share_partitions_yield_and_take_over() {
        let store: Arc<dyn Store> = Arc::from(
            signalbox_store::open("sqlite::memory:", &Default::default())
                .await
                .unwrap(),
        );
        let all = CHECK_PARTITIONS as usize;
        let mut a = Instance::new(&store, "a", 60_000, 60_000);
        let mut b = Instance::new(&store, "b", 60_000, 60_000);

        // Alone, a takes everything and reports it gained (states loaded).
        a.upkeep.round().await;
        assert_eq!((a.held(), a.gained()), (all, all));
        // b arrives: nothing is free yet; a then gives back what exceeds half, b takes it.
        b.upkeep.round().await;
        assert_eq!(b.held(), 0);
        a.upkeep.round().await;
        assert_eq!(a.held(), all / 2);
        b.upkeep.round().await;
        assert_eq!((b.held(), b.gained()), (all / 2, all / 2));
        for p in 0..CHECK_PARTITIONS {
            assert!(
                a.runs(p) != b.runs(p),
                "partition {p} runs in exactly one place"
            );
        }

        // a is behind schedule: it gives a quarter back at once and claims nothing while it
        // cools down; b, seeing a yielding, takes what a gave back.
        a.upkeep.give_back_a_quarter().await;
        assert_eq!(a.held(), all / 2 - all / 8);
        a.upkeep.round().await;
        b.upkeep.round().await;
        assert_eq!(b.held(), all / 2 + all / 8);
        a.upkeep.round().await;
        assert_eq!(a.held(), all / 2 - all / 8, "no claim during the cool-down");
        for p in 0..CHECK_PARTITIONS {
            assert!(
                a.runs(p) != b.runs(p),
                "partition {p} runs in exactly one place"
            );
        }

        // b dies (no more renewals) with short leases: a, out of its cool-down, takes b's
        // partitions once they expire, and b, coming back, finds them gone.
        let mut a = Instance::new(&store, "a", 300, 0);
        let mut b = Instance::new(&store, "b", 300, 0);
        store.release_check_partitions("a", None).await.unwrap();
        store.release_check_partitions("b", None).await.unwrap();
        b.upkeep.round().await;
        assert_eq!(b.held(), all);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while a.held() < all {
            assert!(
                std::time::Instant::now() < deadline,
                "a never took b's partitions"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            a.upkeep.round().await;
        }
        assert!(
            !b.runs(0),
            "b's in-memory deadline passed before the store's lease"
        );
        b.upkeep.round().await;
        assert_eq!(b.held(), 0, "a returning instance gives up what it lost");
        assert!((0..CHECK_PARTITIONS).all(|p| a.runs(p) && !b.runs(p)));
    }

    #[test]
    fn deadlines_say_what_may_run() {
        let leases = Leases::default();
        assert!(!leases.valid(3, 0));
        leases.set(3, 1_000);
        assert!(leases.valid(3, 999));
        assert!(!leases.valid(3, 1_000));
        assert!(
            !leases.valid(CHECK_PARTITIONS, 0),
            "out of range is never valid"
        );
        leases.clear(3);
        assert!(!leases.valid(3, 0));
    }
}
