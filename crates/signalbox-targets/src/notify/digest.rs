//! `digest: {window, max}` — the events of a window become one message.
//!
//! # How it stays durable
//!
//! Every event still has its own delivery in the store; the digest only decides when that
//! delivery may be marked done. The first attempt of a delivery **parks** it in the open window
//! (in memory) and answers `Retry` with `retry_after` = time until the window closes, so the
//! delivery stays pending in the store. When a parked delivery comes back after the window
//! closed, it **flushes** the window: one message listing the window's events (the first
//! `max`, then "and N more") is sent, and only once the provider accepted it does each member
//! answer `Delivered` on its next attempt. If the flush fails, the failing member gets the
//! provider's answer (retry or give up) and the others find the same result when they come
//! back.
//!
//! A crash loses only the in-memory window: its deliveries are still pending and, when
//! attempted again, are parked in a new window and sent then. Nothing acknowledged is lost; a
//! digest may be sent twice around a crash (at least once, as every delivery).
//!
//! Costs, documented for users: parking uses one attempt (so `max_attempts` must be at least
//! 2), and with several instances each instance sends its own digest of the deliveries it
//! claimed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use signalbox_config::DigestConfig;
use tokio::sync::Mutex;

use crate::channels::{Channel, Field, Notification, Severity};
use crate::outcome::AttemptOutcome;

/// Windows whose members never came back (deleted deliveries) are forgotten after this.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// Members arriving while a failed flush waits for its retry are told to come back then.
const FLUSH_RETRY_DEFAULT: Duration = Duration::from_secs(5);

/// The digest state of one notify target.
pub struct Digest {
    config: DigestConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    windows: Vec<Window>,
    /// Delivery id → window id.
    member_of: HashMap<String, u64>,
}

struct Window {
    id: u64,
    closes_at: Instant,
    /// In arrival order.
    members: Vec<(String, Notification)>,
    flush: Flush,
}

#[derive(Clone)]
enum Flush {
    /// Not tried yet.
    Pending,
    /// Failed; may be tried again from `at`.
    Failed {
        at: Instant,
        outcome: AttemptOutcome,
    },
    /// Failed for good: every member gets this.
    Dead(AttemptOutcome),
    /// Sent: every member is done.
    Sent(AttemptOutcome),
}

impl Digest {
    /// An empty digest.
    pub fn new(config: DigestConfig) -> Digest {
        Digest {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// `window 1m, max 20`.
    pub fn describe(&self) -> String {
        format!(
            "window {}, max {}",
            humanize(self.config.window),
            self.config.max
        )
    }

    /// One attempt of delivery `id` whose notification is `n`.
    pub async fn deliver(
        &self,
        id: &str,
        n: Notification,
        channel: &dyn Channel,
    ) -> AttemptOutcome {
        self.deliver_at(Instant::now(), id, n, channel).await
    }

    /// [`Digest::deliver`] at a given time (tests).
    pub async fn deliver_at(
        &self,
        now: Instant,
        id: &str,
        n: Notification,
        channel: &dyn Channel,
    ) -> AttemptOutcome {
        // Held across a flush's send: one flush at a time, and members arriving meanwhile
        // see its result.
        let mut state = self.state.lock().await;
        state.forget_old(now);
        let Some(window_id) = state.member_of.get(id).copied() else {
            return state.park(now, id, n, &self.config);
        };
        let Some(index) = state.windows.iter().position(|w| w.id == window_id) else {
            state.member_of.remove(id);
            return state.park(now, id, n, &self.config);
        };
        let window = &mut state.windows[index];
        let ready_at = match &window.flush {
            Flush::Sent(outcome) | Flush::Dead(outcome) => {
                let outcome = outcome.clone();
                state.leave(index, id);
                return outcome;
            }
            Flush::Pending => window.closes_at,
            Flush::Failed { at, .. } => *at,
        };
        if now < ready_at {
            return waiting(ready_at - now, &window.flush);
        }
        let message = summary(&window.members, self.config.max);
        let answer = channel
            .send(&message, &format!("digest-{}", window.members[0].0))
            .await;
        let outcome = answer.outcome;
        window.flush = match &outcome {
            AttemptOutcome::Delivered { .. } => Flush::Sent(outcome.clone()),
            AttemptOutcome::Permanent { .. } => Flush::Dead(outcome.clone()),
            AttemptOutcome::Retry { retry_after, .. } => Flush::Failed {
                at: now + retry_after.unwrap_or(FLUSH_RETRY_DEFAULT),
                outcome: outcome.clone(),
            },
        };
        if !matches!(outcome, AttemptOutcome::Retry { .. }) {
            state.leave(index, id);
        }
        outcome
    }

    /// Deliveries parked and not yet flushed (tests, metrics).
    pub async fn parked(&self) -> usize {
        let state = self.state.lock().await;
        state
            .windows
            .iter()
            .filter(|w| !matches!(w.flush, Flush::Sent(_) | Flush::Dead(_)))
            .map(|w| w.members.len())
            .sum()
    }
}

impl State {
    /// Adds a delivery to the open window (opening one when none is open) and tells it to come
    /// back when the window closes.
    fn park(
        &mut self,
        now: Instant,
        id: &str,
        n: Notification,
        config: &DigestConfig,
    ) -> AttemptOutcome {
        let open = self
            .windows
            .iter()
            .position(|w| matches!(w.flush, Flush::Pending) && w.closes_at > now);
        let index = match open {
            Some(index) => index,
            None => {
                self.next_id += 1;
                self.windows.push(Window {
                    id: self.next_id,
                    closes_at: now + config.window,
                    members: Vec::new(),
                    flush: Flush::Pending,
                });
                self.windows.len() - 1
            }
        };
        let window = &mut self.windows[index];
        window.members.push((id.to_owned(), n));
        self.member_of.insert(id.to_owned(), window.id);
        let wait = window.closes_at - now;
        AttemptOutcome::Retry {
            error: format!(
                "held for a digest; sent when the window closes in {}",
                humanize(wait)
            ),
            status: None,
            retry_after: Some(wait),
        }
    }

    /// Member `id` is finished with window `index`; an emptied window goes.
    fn leave(&mut self, index: usize, id: &str) {
        self.member_of.remove(id);
        let window = &mut self.windows[index];
        window.members.retain(|(member, _)| member != id);
        if window.members.is_empty() {
            self.windows.remove(index);
        }
    }

    fn forget_old(&mut self, now: Instant) {
        let before = self.windows.len();
        self.windows
            .retain(|w| now.saturating_duration_since(w.closes_at) < FORGET_AFTER);
        if self.windows.len() != before {
            let live: std::collections::HashSet<u64> = self.windows.iter().map(|w| w.id).collect();
            self.member_of.retain(|_, window| live.contains(window));
        }
    }
}

fn waiting(wait: Duration, flush: &Flush) -> AttemptOutcome {
    let error = match flush {
        Flush::Failed { outcome, .. } => format!(
            "digest send failed ({}); tried again in {}",
            outcome_error(outcome),
            humanize(wait)
        ),
        _ => format!(
            "held for a digest; sent when the window closes in {}",
            humanize(wait)
        ),
    };
    AttemptOutcome::Retry {
        error,
        status: None,
        retry_after: Some(wait),
    }
}

fn outcome_error(outcome: &AttemptOutcome) -> &str {
    match outcome {
        AttemptOutcome::Retry { error, .. } | AttemptOutcome::Permanent { error, .. } => error,
        AttemptOutcome::Delivered { .. } => "delivered",
    }
}

/// The one message for a window: a single member is sent as it is; several are listed, the
/// first `max` by title, then "and N more".
pub fn summary(members: &[(String, Notification)], max: usize) -> Notification {
    if let [(_, only)] = members {
        return only.clone();
    }
    let count = members.len();
    let severity = members
        .iter()
        .map(|(_, n)| n.severity)
        .max()
        .unwrap_or(Severity::Info);
    let first = members.first().map(|(_, n)| n);
    let same_title = members
        .iter()
        .all(|(_, n)| Some(&n.title) == first.map(|f| &f.title));
    let title = match first {
        Some(first) if same_title => format!("{} (×{count})", first.title),
        _ => format!("{count} notifications"),
    };
    let mut lines: Vec<String> = members
        .iter()
        .take(max)
        .map(|(_, n)| {
            let mut line = format!("• {}", n.title);
            if let Some(time) = &n.time {
                line.push_str(&format!(" ({time})"));
            }
            if same_title && !n.text.is_empty() {
                line = format!("• {}", crate::channels::markup::truncate(&n.text, 200));
            }
            line
        })
        .collect();
    if count > max {
        lines.push(format!("and {} more", count - max));
    }
    Notification {
        title,
        text: lines.join("\n"),
        fields: vec![Field {
            name: "Events".into(),
            value: count.to_string(),
        }],
        link: first.and_then(|f| f.link.clone()),
        severity,
        dedup_key: first.map(|f| f.dedup_key.clone()).unwrap_or_default(),
        time: first.and_then(|f| f.time.clone()),
    }
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs_f64().ceil() as u64;
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use async_trait::async_trait;
    use signalbox_config::ChannelType;

    use super::*;
    use crate::channels::Answer;

    /// Records what it sends; answers what it is told.
    struct Recorder {
        sent: StdMutex<Vec<Notification>>,
        answer: StdMutex<AttemptOutcome>,
    }

    impl Recorder {
        fn new() -> Recorder {
            Recorder {
                sent: StdMutex::new(Vec::new()),
                answer: StdMutex::new(AttemptOutcome::Delivered { status: Some(200) }),
            }
        }
    }

    #[async_trait]
    impl Channel for Recorder {
        fn kind(&self) -> ChannelType {
            ChannelType::Webhook
        }
        fn preview(&self, _: &Notification) -> Result<String, String> {
            Ok(String::new())
        }
        async fn send(&self, n: &Notification, _key: &str) -> Answer {
            self.sent.lock().unwrap().push(n.clone());
            Answer {
                outcome: self.answer.lock().unwrap().clone(),
                response: String::new(),
            }
        }
    }

    fn digest(max: usize) -> Digest {
        Digest::new(DigestConfig {
            window: Duration::from_secs(60),
            max,
        })
    }

    fn note(i: usize) -> Notification {
        Notification::new(format!("Check c{i} is down"), "")
    }

    fn is_retry_after(outcome: &AttemptOutcome, expected: Duration) -> bool {
        matches!(outcome, AttemptOutcome::Retry { retry_after: Some(d), .. } if *d == expected)
    }

    #[tokio::test]
    async fn a_window_becomes_one_message_and_every_member_is_done_after_it() {
        let channel = Recorder::new();
        let d = digest(2);
        let t0 = Instant::now();
        for i in 0..4 {
            let at = t0 + Duration::from_secs(i as u64 * 10);
            let outcome = d.deliver_at(at, &format!("d{i}"), note(i), &channel).await;
            assert!(is_retry_after(
                &outcome,
                Duration::from_secs(60 - i as u64 * 10)
            ));
        }
        assert_eq!(d.parked().await, 4);
        assert!(channel.sent.lock().unwrap().is_empty());

        let after = t0 + Duration::from_secs(61);
        let first = d.deliver_at(after, "d2", note(2), &channel).await;
        assert!(matches!(first, AttemptOutcome::Delivered { .. }));
        {
            let sent = channel.sent.lock().unwrap();
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].title, "4 notifications");
            assert_eq!(
                sent[0].text,
                "• Check c0 is down\n• Check c1 is down\nand 2 more"
            );
        }
        for id in ["d0", "d1", "d3"] {
            let outcome = d.deliver_at(after, id, note(0), &channel).await;
            assert!(matches!(outcome, AttemptOutcome::Delivered { .. }), "{id}");
        }
        assert_eq!(channel.sent.lock().unwrap().len(), 1, "sent once");
        assert_eq!(d.parked().await, 0);
    }

    #[tokio::test]
    async fn a_failed_flush_keeps_every_member_pending() {
        let channel = Recorder::new();
        *channel.answer.lock().unwrap() = AttemptOutcome::Retry {
            error: "http 503".into(),
            status: Some(503),
            retry_after: Some(Duration::from_secs(30)),
        };
        let d = digest(20);
        let t0 = Instant::now();
        d.deliver_at(t0, "a", note(1), &channel).await;
        d.deliver_at(t0, "b", note(2), &channel).await;
        let after = t0 + Duration::from_secs(60);
        let outcome = d.deliver_at(after, "a", note(1), &channel).await;
        assert!(is_retry_after(&outcome, Duration::from_secs(30)));
        // b comes back before the retry time: told to wait, nothing sent.
        let outcome = d
            .deliver_at(after + Duration::from_secs(10), "b", note(2), &channel)
            .await;
        assert!(is_retry_after(&outcome, Duration::from_secs(20)));
        assert_eq!(channel.sent.lock().unwrap().len(), 1);

        *channel.answer.lock().unwrap() = AttemptOutcome::Delivered { status: Some(200) };
        let later = after + Duration::from_secs(30);
        let outcome = d.deliver_at(later, "b", note(2), &channel).await;
        assert!(matches!(outcome, AttemptOutcome::Delivered { .. }));
        let outcome = d.deliver_at(later, "a", note(1), &channel).await;
        assert!(matches!(outcome, AttemptOutcome::Delivered { .. }));
        assert_eq!(channel.sent.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_delivery_unknown_after_a_restart_is_parked_again() {
        let channel = Recorder::new();
        let d = digest(20);
        let t0 = Instant::now();
        // As after a restart: the store retries "x" but this process never saw it.
        let outcome = d.deliver_at(t0, "x", note(1), &channel).await;
        assert!(is_retry_after(&outcome, Duration::from_secs(60)));
        let outcome = d
            .deliver_at(t0 + Duration::from_secs(60), "x", note(1), &channel)
            .await;
        assert!(matches!(outcome, AttemptOutcome::Delivered { .. }));
        // A single event is sent as itself.
        assert_eq!(channel.sent.lock().unwrap()[0].title, "Check c1 is down");
    }
}
