//! The Personio period cache and the cursors. Every run establishes the complete set of
//! in-scope periods, so that a deleted, rejected or no-longer-approved period loses its bookings in
//! the run that first sees it: a whole read of the window, the changes since the last run (a long
//! absence edited years after it began), and a lookup by id of every cached period the whole read
//! could not have returned (an absence that began long before the window).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Months, NaiveDate, Utc};

use crate::domain::window::Window;
use crate::domain::{AbsencePeriod, RejectedRecord, SourceIds};
use crate::personio::{Lookup, TimeOffQuery};
use crate::store::Issue;

use super::error::SyncError;
use super::issues::Issues;
use super::run::Syncer;

const CURSOR_LAST_FULL: &str = "last_full_reconcile";
/// The day of the last complete read; absent until the first one, which reaches far back.
const CURSOR_CHANGES_SINCE: &str = "personio_changes_since";
/// How far back the first read looks for absences that are still going on (parental leave of
/// several years): Personio may return only periods lying wholly inside the dates it is sent.
const FIRST_READ_REACH: Months = Months::new(120);

/// The periods a run knows: the cache brought in line with Personio.
pub struct Periods {
    pub items: Vec<AbsencePeriod>,
    pub issues: Vec<Issue>,
    /// Every record of the read was readable, so the changes cursor may move.
    pub complete: bool,
}

impl Syncer {
    pub(super) async fn full_reconcile_due(&self, now: DateTime<Utc>) -> Result<bool, SyncError> {
        let Some(last) = self.store.cursor(CURSOR_LAST_FULL).await? else {
            return Ok(true);
        };
        let Ok(last) = DateTime::parse_from_rfc3339(&last) else {
            return Ok(true);
        };
        let since = (now - last.with_timezone(&Utc))
            .to_std()
            .unwrap_or_default();
        Ok(since >= self.settings.full_reconcile_interval)
    }

    /// Reads the in-scope periods and brings the cache in line with them (stored unless `dry`).
    pub(super) async fn read_periods(
        &self,
        window: &Window,
        dry: bool,
        issues: &Issues<'_>,
    ) -> Result<Periods, SyncError> {
        let personio = |e| SyncError::Personio(e);
        let cached = self.store.periods().await?;
        let since = self
            .store
            .cursor(CURSOR_CHANGES_SINCE)
            .await?
            .and_then(|d| d.parse::<NaiveDate>().ok());
        let mut whole = TimeOffQuery::window(window.start, window.horizon);
        if since.is_none() {
            whole.reach_back = window.start.checked_sub_months(FIRST_READ_REACH);
        }
        let read = self.personio.time_offs(&whole).await.map_err(personio)?;
        let mut rejected = read.rejected;
        let mut current: BTreeMap<i64, AbsencePeriod> =
            read.items.into_iter().map(|p| (p.id, p)).collect();
        if let Some(since) = since {
            let changes = TimeOffQuery {
                updated_from: Some(since),
                ..whole
            };
            let changed = self.personio.time_offs(&changes).await.map_err(personio)?;
            rejected.extend(changed.rejected);
            current.extend(changed.items.into_iter().map(|p| (p.id, p)));
        }
        let unconfirmed: Vec<SourceIds> = cached
            .iter()
            .filter(|p| !current.contains_key(&p.id) && !self.personio.could_return(&whole, p))
            .filter(|p| window.covers(p.end))
            .map(|p| p.ids.clone())
            .collect();
        for ids in &unconfirmed {
            match self.personio.time_off(ids).await.map_err(personio)? {
                Lookup::Found(p) if window.covers(p.end) => {
                    current.insert(p.id, p);
                }
                Lookup::Found(_) | Lookup::Gone => {}
                Lookup::Unreadable(r) => rejected.push(r),
            }
        }
        let unreadable = unreadable_ids(&rejected);
        let (items, changed, removals) =
            merge_periods(cached, current.into_values().collect(), unreadable.as_ref());
        if !dry {
            self.store
                .update_periods(only(&items, &changed), &removals)
                .await?;
        }
        Ok(Periods {
            items,
            issues: issues.unreadable("periods", &rejected),
            complete: rejected.is_empty(),
        })
    }

    /// Moves the cursors once a run has written everything it planned.
    pub(super) async fn advance_cursors(
        &self,
        window: &Window,
        now: DateTime<Utc>,
        full: bool,
        periods_complete: bool,
    ) -> Result<(), SyncError> {
        if periods_complete {
            self.store
                .set_cursor(CURSOR_CHANGES_SINCE, &window.today.to_string())
                .await?;
        }
        if full {
            self.store
                .set_cursor(CURSOR_LAST_FULL, &now.to_rfc3339())
                .await?;
        }
        Ok(())
    }
}

/// The ids of records Personio sent but we could not read: not gone, so what we know of them is
/// kept. `None` when one has no readable id: then nothing can be concluded from an absence.
fn unreadable_ids(rejected: &[RejectedRecord]) -> Option<HashSet<i64>> {
    rejected
        .iter()
        .map(|r| r.id.as_deref().and_then(|id| id.parse().ok()))
        .collect()
}

/// Merges the periods Personio holds in scope into the cached ones: what `current` lacks is gone,
/// except the records it could not read (`unreadable`; `None`: nothing is gone). Returns the
/// merged set, the ids of the periods that changed (by id, not copies: on a first sync that is
/// all of them) and the ids of those gone.
fn merge_periods(
    cached: Vec<AbsencePeriod>,
    current: Vec<AbsencePeriod>,
    unreadable: Option<&HashSet<i64>>,
) -> (Vec<AbsencePeriod>, HashSet<i64>, Vec<i64>) {
    let mut merged: BTreeMap<i64, AbsencePeriod> = cached.into_iter().map(|p| (p.id, p)).collect();
    let seen: HashSet<i64> = current.iter().map(|p| p.id).collect();
    let removals: Vec<i64> = match unreadable {
        Some(unreadable) => merged
            .keys()
            .copied()
            .filter(|id| !seen.contains(id) && !unreadable.contains(id))
            .collect(),
        None => Vec::new(),
    };
    for id in &removals {
        merged.remove(id);
    }
    let mut changed = HashSet::new();
    for p in current {
        if merged.get(&p.id) != Some(&p) {
            changed.insert(p.id);
            merged.insert(p.id, p);
        }
    }
    (merged.into_values().collect(), changed, removals)
}

/// The periods with the given ids. (A named function: an inline closure here made the run's
/// future fail the `Send` bound with a higher-ranked lifetime error.)
fn only<'a>(
    periods: &'a [AbsencePeriod],
    ids: &'a HashSet<i64>,
) -> impl Iterator<Item = &'a AbsencePeriod> + Send + 'a {
    periods.iter().filter(|p| ids.contains(&p.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PeriodStatus;

    fn period(id: i64, end: &str) -> AbsencePeriod {
        AbsencePeriod {
            id,
            ids: Default::default(),
            employee_id: 1,
            email: "a@b.c".into(),
            type_id: 1,
            type_name: "V".into(),
            status: PeriodStatus::Approved,
            start: "2026-12-01".parse().unwrap(),
            end: end.parse().unwrap(),
            half_day_start: false,
            half_day_end: false,
        }
    }

    #[test]
    fn what_personio_no_longer_holds_leaves_the_cache_unless_unreadable() {
        let cached = vec![period(1, "2026-12-01"), period(2, "2026-12-02")];
        let (merged, changed, removals) = merge_periods(
            cached.clone(),
            vec![period(2, "2026-12-03")],
            Some(&HashSet::new()),
        );
        assert_eq!(merged, vec![period(2, "2026-12-03")]);
        assert_eq!(changed, HashSet::from([2]));
        assert_eq!(removals, vec![1]);
        let (merged, _, removals) =
            merge_periods(cached.clone(), vec![], Some(&HashSet::from([1])));
        assert_eq!(
            removals,
            vec![2],
            "an unreadable record is not taken for deleted"
        );
        assert_eq!(merged, vec![period(1, "2026-12-01")]);
        let (merged, changed, removals) = merge_periods(
            cached,
            vec![period(3, "2026-12-05"), period(1, "2026-12-01")],
            None,
        );
        assert_eq!(
            merged.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(
            changed,
            HashSet::from([3]),
            "unchanged periods are not rewritten"
        );
        assert!(removals.is_empty());
    }
}
