//! Identifiers. UUIDv7 sorts by creation time, which keeps store indexes append-mostly.

/// A new time-ordered unique id as a lowercase hyphenated string.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
