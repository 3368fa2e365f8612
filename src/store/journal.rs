//! The journal of bookings the sync owns: intent recorded before each write, outcome after it.

use std::str::FromStr;

use chrono::{NaiveDate, Utc};

use super::{parse_date, ts, BookingKey, Store, StoreError};

/// Where a journaled write stands. Anything but `Synced` means a write was started and its
/// outcome is not known to have been recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalState {
    Creating,
    Synced,
    Updating,
    Deleting,
    /// Productive refused the create (a 4xx): nothing exists, the reason is kept.
    Refused,
}

impl JournalState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Synced => "synced",
            Self::Updating => "updating",
            Self::Deleting => "deleting",
            Self::Refused => "refused",
        }
    }
}

impl FromStr for JournalState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "creating" => Self::Creating,
            "synced" => Self::Synced,
            "updating" => Self::Updating,
            "deleting" => Self::Deleting,
            "refused" => Self::Refused,
            other => return Err(StoreError::Corrupt(format!("journal state {other:?}"))),
        })
    }
}

/// A booking the sync owns (or is about to), as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub key: BookingKey,
    pub person_id: i64,
    pub event_id: i64,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub minutes: i64,
    pub note: String,
    pub booking_id: Option<i64>,
    pub state: JournalState,
    /// False while Productive holds the booking pending approval.
    pub approved: bool,
    /// Why Productive refused it (state `Refused`).
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct JournalRow {
    period_id: i64,
    part: i64,
    person_id: i64,
    event_id: i64,
    start_date: String,
    end_date: String,
    minutes: i64,
    note: String,
    booking_id: Option<i64>,
    state: String,
    approved: i64,
    error: Option<String>,
}

impl TryFrom<JournalRow> for JournalEntry {
    type Error = StoreError;
    fn try_from(r: JournalRow) -> Result<Self, StoreError> {
        Ok(Self {
            key: BookingKey {
                period_id: r.period_id,
                part: r.part,
            },
            person_id: r.person_id,
            event_id: r.event_id,
            start: parse_date(&r.start_date)?,
            end: parse_date(&r.end_date)?,
            minutes: r.minutes,
            note: r.note,
            booking_id: r.booking_id,
            state: r.state.parse()?,
            approved: r.approved != 0,
            error: r.error,
        })
    }
}

impl Store {
    pub async fn journal(&self) -> Result<Vec<JournalEntry>, StoreError> {
        self.fetch_as(sqlx::query_as::<_, JournalRow>(
            "SELECT period_id, part, person_id, event_id, start_date, end_date, minutes, note, booking_id, state, approved, error
             FROM synced_bookings ORDER BY period_id, part",
        ))
        .await
    }

    /// Records an intent or an outcome for one owned booking.
    pub async fn put_journal(&self, e: &JournalEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO synced_bookings (period_id, part, person_id, event_id, start_date, end_date, minutes, note, booking_id, state, approved, updated_at, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (period_id, part) DO UPDATE SET person_id = excluded.person_id,
                 event_id = excluded.event_id, start_date = excluded.start_date, end_date = excluded.end_date,
                 minutes = excluded.minutes, note = excluded.note, booking_id = excluded.booking_id,
                 state = excluded.state, approved = excluded.approved, updated_at = excluded.updated_at,
                 error = excluded.error",
        )
        .bind(e.key.period_id)
        .bind(e.key.part)
        .bind(e.person_id)
        .bind(e.event_id)
        .bind(e.start.to_string())
        .bind(e.end.to_string())
        .bind(e.minutes)
        .bind(&e.note)
        .bind(e.booking_id)
        .bind(e.state.as_str())
        .bind(e.approved as i64)
        .bind(ts(Utc::now()))
        .bind(&e.error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove_journal(&self, key: BookingKey) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM synced_bookings WHERE period_id = $1 AND part = $2")
            .bind(key.period_id)
            .bind(key.part)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
