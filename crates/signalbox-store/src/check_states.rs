//! Health checks' alert state: one row per check, written when its health changes, read at
//! start. Statements use `$N` placeholders and `ON CONFLICT … DO UPDATE`, which both dialects
//! accept.

use crate::Millis;

/// A check's durable alert state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStateRow {
    /// The check's name.
    pub name: String,
    /// `unknown`, `healthy` or `failing`.
    pub health: String,
    /// When the last `Check Failed` or `Check Reminder` was sent.
    pub last_alert_at: Option<Millis>,
    /// When the row was written.
    pub updated_at: Millis,
}

pub(crate) const UPSERT: &str = "INSERT INTO check_states (name, health, last_alert_at, updated_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (name) DO UPDATE SET health = excluded.health, \
     last_alert_at = excluded.last_alert_at, updated_at = excluded.updated_at";

pub(crate) const SELECT_ALL: &str =
    "SELECT name, health, last_alert_at, updated_at FROM check_states ORDER BY name";

/// `load_check_states` / `save_check_state` for a store with pools `$writer` and `$reader`.
macro_rules! check_state_methods {
    ($store:ty, writer = $writer:ident, reader = $reader:ident) => {
        impl $store {
            pub(crate) async fn load_check_states_impl(
                &self,
            ) -> Result<Vec<$crate::check_states::CheckStateRow>, $crate::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query($crate::check_states::SELECT_ALL)
                    .fetch_all(&self.$reader)
                    .await?;
                rows.into_iter()
                    .map(|r| {
                        Ok($crate::check_states::CheckStateRow {
                            name: r.try_get(0)?,
                            health: r.try_get(1)?,
                            last_alert_at: r.try_get(2)?,
                            updated_at: r.try_get(3)?,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn save_check_state_impl(
                &self,
                row: &$crate::check_states::CheckStateRow,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::check_states::UPSERT)
                    .bind(row.name.as_str())
                    .bind(row.health.as_str())
                    .bind(row.last_alert_at)
                    .bind(row.updated_at)
                    .execute(&self.$writer)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use check_state_methods;
