//! Decoding rows into store types, for both dialects. Columns are read by position, in the
//! order of `delivery_columns!` (see `sql.rs`).

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{Delivery, DeliveryState, StateCounts, StoreError, StoredEvent};

/// Reads column `i` as `T`, naming the column in the error.
pub(crate) fn get<'r, R, T>(row: &'r R, i: usize, name: &str) -> Result<T, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(i)
        .map_err(|e| StoreError::Database(format!("reading column {name}: {e}")))
}

/// Narrows a stored integer, reporting the column when it is out of range.
pub(crate) fn narrow<T: TryFrom<i32>>(value: i32, name: &str) -> Result<T, StoreError> {
    T::try_from(value)
        .map_err(|_| StoreError::Database(format!("column {name} holds {value}, out of range")))
}

/// A delivery from a row of `delivery_columns!`.
pub(crate) fn delivery<R>(row: &R) -> Result<Delivery, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i32: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i32>: Decode<'r, R::Database> + Type<R::Database>,
{
    let state: String = get(row, 4, "state")?;
    let state = DeliveryState::parse(&state)
        .ok_or_else(|| StoreError::Database(format!("unknown delivery state {state:?}")))?;
    let last_status: Option<i32> = get(row, 11, "last_status")?;
    Ok(Delivery {
        id: get(row, 0, "id")?,
        event_id: get(row, 1, "event_id")?,
        rule: get(row, 2, "rule")?,
        target: narrow(get(row, 3, "target")?, "target")?,
        state,
        attempts: narrow(get(row, 5, "attempts")?, "attempts")?,
        created_at: get(row, 6, "created_at")?,
        age_from: get(row, 7, "age_from")?,
        next_attempt_at: get(row, 8, "next_attempt_at")?,
        updated_at: get(row, 9, "updated_at")?,
        last_error: get(row, 10, "last_error")?,
        last_status: last_status.map(|s| narrow(s, "last_status")).transpose()?,
    })
}

/// An event from `SELECT id, source, detail_type, time, accepted_at, body`.
pub(crate) fn event<R>(row: &R) -> Result<StoredEvent, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(StoredEvent {
        id: get(row, 0, "id")?,
        source: get(row, 1, "source")?,
        detail_type: get(row, 2, "detail_type")?,
        time: get(row, 3, "time")?,
        accepted_at: get(row, 4, "accepted_at")?,
        body: get(row, 5, "body")?,
    })
}

/// `(id, body, accepted_at)` from the claim's event lookup.
pub(crate) fn event_body<R>(row: &R) -> Result<(String, String, i64), StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok((
        get(row, 0, "id")?,
        get(row, 1, "body")?,
        get(row, 2, "accepted_at")?,
    ))
}

/// Converts a value the store writes as a signed 32-bit integer.
pub(crate) fn to_i32(value: u32, name: &str) -> Result<i32, StoreError> {
    i32::try_from(value)
        .map_err(|_| StoreError::Database(format!("{name} {value} exceeds the stored range")))
}

/// Counts from `(state, count)` rows; unknown states are ignored.
pub(crate) fn state_counts(rows: impl IntoIterator<Item = (String, i64)>) -> StateCounts {
    let mut counts = StateCounts::default();
    for (state, n) in rows {
        let n = u64::try_from(n).unwrap_or(0);
        match DeliveryState::parse(&state) {
            Some(DeliveryState::Pending) => counts.pending = n,
            Some(DeliveryState::Done) => counts.done = n,
            Some(DeliveryState::Dead) => counts.dead = n,
            None => {}
        }
    }
    counts
}
