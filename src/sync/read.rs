//! Reading the inputs that are not cached: Productive's people and Personio's hour-unit
//! absences.

use std::collections::{HashMap, HashSet};

use crate::domain::identity::{IdKind, Identities};
use crate::domain::matching::PeopleIndex;
use crate::domain::{AbsenceType, HourlyAbsence, PeriodStatus};
use crate::personio::{Lookup, TimeOffQuery};
use crate::store::Issue;

use super::desired::Skip;
use super::error::SyncError;
use super::hourly::{hourly_key, NOT_SYNCED};
use super::issues::Issues;
use super::run::Syncer;

/// Productive's people, indexed for matching, and their names for reports.
pub struct People {
    pub index: PeopleIndex,
    /// Productive person id → email (or name), for reports and failed writes.
    pub names: HashMap<i64, String>,
    pub issues: Vec<Issue>,
}

/// The hour-unit absences of a run: to book (`sync.hourly_absences`), or to report as skipped.
#[derive(Default)]
pub struct Hourly {
    /// Read and with their type keys; empty while the option is off.
    pub absences: Vec<HourlyAbsence>,
    /// Booked before and not readable now: their bookings stay.
    pub keep: Vec<i64>,
    /// Reported, not booked (the option is off).
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

    /// The hour-unit absences of the window. While the option is off they are read on full runs
    /// only, to be reported; when on, on every run (they are not cached), and one booked before
    /// that is missing from the read counts as gone only when the source confirms it.
    pub(super) async fn read_hourly(
        &self,
        query: &TimeOffQuery,
        types: &[AbsenceType],
        ids: &Identities,
        dry: bool,
        issues: &Issues<'_>,
    ) -> Result<Hourly, SyncError> {
        let personio = |e| SyncError::Personio(e);
        let mut read = self
            .personio
            .hourly_absences(query)
            .await
            .map_err(personio)?;
        let mut out = Hourly {
            issues: issues.unreadable("hourly", &read.rejected),
            ..Hourly::default()
        };
        if !self.settings.hourly_absences {
            out.skips = read
                .items
                .iter()
                .filter(|a| a.status == PeriodStatus::Approved)
                .map(|a| Skip {
                    personio_id: a.id.clone(),
                    email: a.email.clone(),
                    start: a.start,
                    end: a.end,
                    reason: NOT_SYNCED.into(),
                })
                .collect();
            return Ok(out);
        }
        let booked: HashSet<i64> = self
            .store
            .journal()
            .await?
            .into_iter()
            // Bookings ended before the window are left alone (aged out), not looked up.
            .filter(|e| e.shape.end >= query.from)
            .map(|e| e.key.period_id)
            .collect();
        let read_ids: HashSet<&str> = read.items.iter().map(|a| a.id.as_str()).collect();
        let missing: Vec<(String, i64)> = ids
            .hourly()
            .iter()
            .filter(|(id, key)| booked.contains(key) && !read_ids.contains(id.as_str()))
            .cloned()
            .collect();
        for (id, key) in missing {
            match self.personio.confirm_hourly(&id).await.map_err(personio)? {
                Lookup::Found(a) => read.items.push(a),
                Lookup::Gone => {}
                Lookup::Unreadable(r) => {
                    out.keep.push(key);
                    out.issues.extend(issues.unreadable("hourly", &[r]));
                }
            }
        }
        let known: HashSet<&str> = ids.hourly().iter().map(|(id, _)| id.as_str()).collect();
        let new: Vec<(IdKind, String, i64)> = read
            .items
            .iter()
            .filter(|a| a.status == PeriodStatus::Approved && !known.contains(a.id.as_str()))
            .map(|a| (IdKind::Hourly, a.id.clone(), hourly_key(a)))
            .collect();
        if !dry {
            // Before anything is booked under them: a booked absence must be known by id.
            self.store.add_source_ids(&new).await?;
        }
        for a in &mut read.items {
            a.type_id = type_key(a, types, ids);
        }
        out.absences = read.items;
        Ok(out)
    }
}

/// The key of an absence's type: by the id its source gave, else by name.
fn type_key(a: &HourlyAbsence, types: &[AbsenceType], ids: &Identities) -> Option<i64> {
    a.type_id.and_then(|raw| ids.type_key(raw)).or_else(|| {
        types
            .iter()
            .find(|t| t.name.trim().eq_ignore_ascii_case(a.type_name.trim()))
            .map(|t| t.id)
    })
}
