//! The journal repository: one row per owned booking, mapped to the domain's `JournalEntry`.

use chrono::Utc;

use super::{parse_date, ts, BookingKey, Store, StoreError};
use crate::domain::{BookingShape, JournalEntry};

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
    rejected: i64,
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
            shape: BookingShape {
                person_id: r.person_id,
                event: r.event_id,
                start: parse_date(&r.start_date)?,
                end: parse_date(&r.end_date)?,
                minutes: r.minutes,
            },
            note: r.note,
            booking_id: r.booking_id,
            state: r
                .state
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
            approved: r.approved != 0,
            rejected: r.rejected != 0,
            error: r.error,
        })
    }
}

impl Store {
    pub async fn journal(&self) -> Result<Vec<JournalEntry>, StoreError> {
        self.fetch_as(sqlx::query_as::<_, JournalRow>(
            "SELECT period_id, part, person_id, event_id, start_date, end_date, minutes, note, booking_id, state, approved, rejected, error
             FROM synced_bookings ORDER BY period_id, part",
        ))
        .await
    }

    /// Records an intent or an outcome for one owned booking.
    /// How many bookings the sync owns in Productive (journal entries with a booking; a refused
    /// create has none).
    pub async fn owned_bookings(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM synced_bookings WHERE booking_id IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }

    pub async fn put_journal(&self, e: &JournalEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO synced_bookings (period_id, part, person_id, event_id, start_date, end_date, minutes, note, booking_id, state, approved, updated_at, error, rejected)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (period_id, part) DO UPDATE SET person_id = excluded.person_id,
                 event_id = excluded.event_id, start_date = excluded.start_date, end_date = excluded.end_date,
                 minutes = excluded.minutes, note = excluded.note, booking_id = excluded.booking_id,
                 state = excluded.state, approved = excluded.approved, updated_at = excluded.updated_at,
                 error = excluded.error, rejected = excluded.rejected",
        )
        .bind(e.key.period_id)
        .bind(e.key.part)
        .bind(e.shape.person_id)
        .bind(e.shape.event)
        .bind(e.shape.start.to_string())
        .bind(e.shape.end.to_string())
        .bind(e.shape.minutes)
        .bind(&e.note)
        .bind(e.booking_id)
        .bind(e.state.as_str())
        .bind(e.approved as i64)
        .bind(ts(Utc::now()))
        .bind(&e.error)
        .bind(e.rejected as i64)
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
