//! When the next pending delivery becomes claimable, from the head of the due order.

use crate::Millis;

/// How many pending deliveries [`earliest_claimable`] looks at.
pub(crate) const HEAD: u32 = 256;

/// The earliest time any pending delivery can be claimed: its `next_attempt_at`, or its lease's
/// end when leased. `head` is `(next_attempt_at, lease_until)` of the first pending deliveries in
/// due order; `complete` says it holds all of them. When it does not, the answer may be earlier
/// than exact (waking early is harmless) but never later.
pub(crate) fn earliest_claimable(head: &[(Millis, Millis)], complete: bool) -> Option<Millis> {
    let mut best: Option<Millis> = None;
    for &(next_attempt_at, lease_until) in head {
        // Rows come in due order: nothing after this one can beat `best`.
        if best.is_some_and(|b| next_attempt_at >= b) {
            return best;
        }
        let at = next_attempt_at.max(lease_until);
        best = Some(best.map_or(at, |b| b.min(at)));
    }
    match (complete, head.last()) {
        (false, Some(&(last_due, _))) => Some(best.map_or(last_due, |b| b.min(last_due))),
        _ => best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_pending_means_nothing_due() {
        assert_eq!(earliest_claimable(&[], true), None);
    }

    #[test]
    fn an_unleased_delivery_is_due_at_its_next_attempt() {
        assert_eq!(earliest_claimable(&[(10, 0), (20, 0)], true), Some(10));
    }

    #[test]
    fn a_leased_delivery_is_due_when_its_lease_ends() {
        assert_eq!(earliest_claimable(&[(10, 100), (20, 0)], true), Some(20));
        assert_eq!(earliest_claimable(&[(10, 15), (20, 0)], true), Some(15));
        assert_eq!(earliest_claimable(&[(10, 100), (20, 90)], true), Some(90));
    }

    #[test]
    fn an_incomplete_head_never_answers_later_than_its_last_due_time() {
        assert_eq!(earliest_claimable(&[(10, 100), (20, 100)], false), Some(20));
        assert_eq!(earliest_claimable(&[(10, 100), (20, 100)], true), Some(100));
    }
}
