//! Which writes of a batch go to the database, and what each write's outcome is.

use std::collections::{HashMap, HashSet};

use crate::{EventWrite, IngestOutcome};

/// The first occurrence of each event id in `writes`, sorted by id; later repeats are duplicates
/// of it and never reach the database (PostgreSQL rejects an upsert touching one row twice).
/// Sorting makes concurrent batches lock existing rows in one order, so they cannot deadlock.
pub(crate) fn first_occurrences(writes: &[EventWrite]) -> Vec<&EventWrite> {
    let mut seen = HashSet::with_capacity(writes.len());
    let mut firsts: Vec<&EventWrite> = writes
        .iter()
        .filter(|w| seen.insert(w.event.id.as_str()))
        .collect();
    firsts.sort_by(|a, b| a.event.id.cmp(&b.event.id));
    firsts
}

/// One outcome per write: accepted when its id was written and it is that id's first occurrence.
pub(crate) fn outcomes(
    writes: &[EventWrite],
    written: impl Fn(&str) -> bool,
) -> Vec<IngestOutcome> {
    let mut first = HashMap::with_capacity(writes.len());
    writes
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let first_index = *first.entry(w.event.id.as_str()).or_insert(i);
            if first_index == i && written(&w.event.id) {
                IngestOutcome::Accepted
            } else {
                IngestOutcome::Duplicate
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewEvent;

    fn write(id: &str, body: &str) -> EventWrite {
        EventWrite {
            event: NewEvent {
                id: id.into(),
                source: "s".into(),
                detail_type: "d".into(),
                time: 0,
                body: body.into(),
            },
            deliveries: vec![],
        }
    }

    #[test]
    fn repeats_keep_the_first_occurrence_sorted_by_id() {
        let writes = [write("b", "1"), write("a", "2"), write("b", "3")];
        let firsts: Vec<&str> = first_occurrences(&writes)
            .iter()
            .map(|w| w.event.body.as_str())
            .collect();
        assert_eq!(firsts, ["2", "1"]);
    }

    #[test]
    fn outcomes_follow_the_written_ids_and_first_occurrences() {
        use IngestOutcome::{Accepted, Duplicate};
        let writes = [
            write("a", "1"),
            write("b", "2"),
            write("a", "3"),
            write("c", "4"),
        ];
        let written = |id: &str| id == "a" || id == "c";
        assert_eq!(
            outcomes(&writes, written),
            [Accepted, Duplicate, Duplicate, Accepted]
        );
    }
}
