//! The last known state of every in-scope Personio period.

use super::{parse_date, Store, StoreError};
use crate::domain::{AbsencePeriod, PeriodStatus, SourceIds};

#[derive(sqlx::FromRow)]
struct PeriodRow {
    id: i64,
    employee_id: i64,
    email: String,
    type_id: i64,
    type_name: String,
    status: String,
    start_date: String,
    end_date: String,
    half_day_start: i64,
    half_day_end: i64,
}

impl TryFrom<PeriodRow> for AbsencePeriod {
    type Error = StoreError;
    fn try_from(r: PeriodRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            ids: SourceIds {
                v1: Some(r.id),
                v2: None,
            },
            employee_id: r.employee_id,
            email: r.email,
            type_id: r.type_id,
            type_name: r.type_name,
            status: PeriodStatus::parse(&r.status),
            start: parse_date(&r.start_date)?,
            end: parse_date(&r.end_date)?,
            half_day_start: r.half_day_start != 0,
            half_day_end: r.half_day_end != 0,
        })
    }
}

fn status_str(status: &PeriodStatus) -> &str {
    match status {
        PeriodStatus::Approved => "approved",
        PeriodStatus::Pending => "pending",
        PeriodStatus::Other(s) => s,
    }
}

impl Store {
    pub async fn periods(&self) -> Result<Vec<AbsencePeriod>, StoreError> {
        self.fetch_as(sqlx::query_as::<_, PeriodRow>(
            "SELECT id, employee_id, email, type_id, type_name, status, start_date, end_date, half_day_start, half_day_end
             FROM personio_periods ORDER BY id",
        ))
        .await
    }

    /// Writes changed periods and forgets vanished ones, in one transaction.
    pub async fn update_periods<'p>(
        &self,
        upserts: impl IntoIterator<Item = &'p AbsencePeriod>,
        removals: &[i64],
    ) -> Result<(), StoreError> {
        let mut upserts = upserts.into_iter().peekable();
        if upserts.peek().is_none() && removals.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for p in upserts {
            sqlx::query(
                "INSERT INTO personio_periods (id, employee_id, email, type_id, type_name, status, start_date, end_date, half_day_start, half_day_end)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (id) DO UPDATE SET employee_id = excluded.employee_id, email = excluded.email,
                     type_id = excluded.type_id, type_name = excluded.type_name, status = excluded.status,
                     start_date = excluded.start_date, end_date = excluded.end_date,
                     half_day_start = excluded.half_day_start, half_day_end = excluded.half_day_end",
            )
            .bind(p.id)
            .bind(p.employee_id)
            .bind(&p.email)
            .bind(p.type_id)
            .bind(&p.type_name)
            .bind(status_str(&p.status))
            .bind(p.start.to_string())
            .bind(p.end.to_string())
            .bind(p.half_day_start as i64)
            .bind(p.half_day_end as i64)
            .execute(&mut *tx)
            .await?;
        }
        for id in removals {
            sqlx::query("DELETE FROM personio_periods WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
