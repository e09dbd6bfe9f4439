//! Turning a claim's rows into [`Job`]s, and an attempt record into column values.

use std::collections::HashMap;

use crate::{AttemptRecord, Delivery, Job, Millis, StoreError};

/// The distinct event ids of claimed deliveries, for one lookup of their bodies.
pub(crate) fn event_ids(deliveries: &[Delivery]) -> Vec<&str> {
    let mut ids: Vec<&str> = deliveries.iter().map(|d| d.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Joins claimed deliveries with their events' `(body, accepted_at)`, oldest due first.
pub(crate) fn assemble(
    mut deliveries: Vec<Delivery>,
    events: &HashMap<String, (String, Millis)>,
) -> Result<Vec<Job>, StoreError> {
    // RETURNING gives no order; the contract is oldest due first.
    deliveries.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
    deliveries
        .into_iter()
        .map(|delivery| {
            // Events are never deleted while deliveries point at them; a miss is corruption.
            let (body, accepted_at) = events.get(&delivery.event_id).ok_or_else(|| {
                StoreError::Database(format!(
                    "delivery {} refers to event {}, which is not stored",
                    delivery.id, delivery.event_id
                ))
            })?;
            Ok(Job {
                event_body: body.clone(),
                accepted_at: *accepted_at,
                delivery,
            })
        })
        .collect()
}

/// Column values an attempt record writes: state, next_attempt_at (None keeps it), last_error,
/// last_status.
pub(crate) struct AttemptColumns<'a> {
    pub state: &'static str,
    pub next_attempt_at: Option<Millis>,
    pub last_error: Option<&'a str>,
    pub last_status: Option<i32>,
}

impl<'a> AttemptColumns<'a> {
    /// The columns for `record`. A successful attempt clears `last_error`.
    pub(crate) fn of(record: &'a AttemptRecord) -> Self {
        match record {
            AttemptRecord::Done { status } => AttemptColumns {
                state: "done",
                next_attempt_at: None,
                last_error: None,
                last_status: status.map(i32::from),
            },
            AttemptRecord::Retry {
                next_attempt_at,
                error,
                status,
            } => AttemptColumns {
                state: "pending",
                next_attempt_at: Some(*next_attempt_at),
                last_error: Some(error),
                last_status: status.map(i32::from),
            },
            AttemptRecord::Dead { error, status } => AttemptColumns {
                state: "dead",
                next_attempt_at: None,
                last_error: Some(error),
                last_status: status.map(i32::from),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeliveryState;

    fn delivery(id: &str, event_id: &str, due: Millis) -> Delivery {
        Delivery {
            id: id.into(),
            event_id: event_id.into(),
            rule: "r".into(),
            target: 0,
            state: DeliveryState::Pending,
            attempts: 0,
            created_at: 0,
            age_from: 0,
            next_attempt_at: due,
            updated_at: 0,
            last_error: None,
            last_status: None,
        }
    }

    #[test]
    fn jobs_come_oldest_due_first_with_their_event() {
        let events: HashMap<String, (String, Millis)> = [
            ("e1".to_string(), ("{1}".to_string(), 5)),
            ("e2".to_string(), ("{2}".to_string(), 6)),
        ]
        .into();
        let jobs = assemble(
            vec![
                delivery("c", "e1", 20),
                delivery("b", "e2", 10),
                delivery("a", "e1", 20),
            ],
            &events,
        )
        .expect("all events present");
        let got: Vec<(&str, &str, Millis)> = jobs
            .iter()
            .map(|j| (j.delivery.id.as_str(), j.event_body.as_str(), j.accepted_at))
            .collect();
        assert_eq!(got, [("b", "{2}", 6), ("a", "{1}", 5), ("c", "{1}", 5)]);
    }

    #[test]
    fn a_missing_event_is_an_error() {
        assert!(assemble(vec![delivery("a", "gone", 0)], &HashMap::new()).is_err());
    }

    #[test]
    fn event_ids_are_distinct() {
        let ds = [
            delivery("a", "e2", 0),
            delivery("b", "e1", 0),
            delivery("c", "e2", 0),
        ];
        assert_eq!(event_ids(&ds), ["e1", "e2"]);
    }
}
