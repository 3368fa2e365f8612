//! Reading the inputs that are not cached: Productive's people and, on full runs, Personio's
//! hour-unit absences (reported as skipped).

use std::collections::HashMap;

use crate::domain::matching::PeopleIndex;
use crate::domain::PeriodStatus;
use crate::personio::TimeOffQuery;
use crate::store::Issue;

use super::desired::Skip;
use super::error::SyncError;
use super::issues::Issues;
use super::run::Syncer;

/// Productive's people, indexed for matching, and their names for reports.
pub struct People {
    pub index: PeopleIndex,
    /// Productive person id → email (or name), for reports and failed writes.
    pub names: HashMap<i64, String>,
    pub issues: Vec<Issue>,
}

/// The hour-unit absences a full run reports as skipped.
pub struct Hourly {
    pub skips: Vec<Skip>,
    pub issues: Vec<Issue>,
}

impl Syncer {
    pub(super) async fn read_people(&self, issues: &Issues<'_>) -> Result<People, SyncError> {
        let people = self
            .productive
            .people()
            .await
            .map_err(SyncError::Productive)?;
        let names = people
            .items
            .iter()
            .map(|p| {
                let name = p
                    .email
                    .as_deref()
                    .map(|e| e.trim().to_string())
                    .unwrap_or_else(|| format!("{} {}", p.first_name, p.last_name));
                (p.id, name)
            })
            .collect();
        Ok(People {
            issues: issues.unreadable("people", &people.rejected),
            index: PeopleIndex::new(people.items, &self.settings.email_overrides),
            names,
        })
    }

    pub(super) async fn read_hourly(
        &self,
        query: &TimeOffQuery,
        issues: &Issues<'_>,
    ) -> Result<Hourly, SyncError> {
        let hourly = self
            .personio
            .hourly_absences(query)
            .await
            .map_err(SyncError::Personio)?;
        let skips = hourly
            .items
            .iter()
            .filter(|a| a.status == PeriodStatus::Approved)
            .map(|a| Skip {
                personio_id: a.id.clone(),
                email: a.email.clone(),
                start: a.start,
                end: a.end,
                reason: "measured in hours; hour-unit absences are not synced".into(),
            })
            .collect();
        Ok(Hourly {
            skips,
            issues: issues.unreadable("hourly", &hourly.rejected),
        })
    }
}
