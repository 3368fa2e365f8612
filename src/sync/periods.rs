//! The Personio period cache and the cursors: a full read replaces the cache, an incremental
//! read (`updated_from` the last read's day) patches it.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::window::Window;
use crate::domain::AbsencePeriod;
use crate::personio::TimeOffQuery;
use crate::store::Issue;

use super::error::SyncError;
use super::issues::Issues;
use super::run::Syncer;

const CURSOR_LAST_FULL: &str = "last_full_reconcile";
const CURSOR_UPDATED_FROM: &str = "personio_updated_from";

/// The periods a run knows: the cache patched with what Personio just sent.
pub struct Periods {
    pub items: Vec<AbsencePeriod>,
    pub issues: Vec<Issue>,
    /// Every record of the read was readable, so the incremental cursor may move.
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

    /// The time-offs query of this run: the window, and for an incremental run the day of the
    /// last read, one day back for overlap (Personio filters by date and its clock is not ours).
    pub(super) async fn period_query(
        &self,
        window: &Window,
        full: bool,
    ) -> Result<TimeOffQuery, SyncError> {
        let updated_from = if full {
            None
        } else {
            self.store
                .cursor(CURSOR_UPDATED_FROM)
                .await?
                .and_then(|d| d.parse::<NaiveDate>().ok())
                .and_then(|d| d.pred_opt())
        };
        Ok(TimeOffQuery {
            from: window.start,
            to: window.horizon,
            updated_from,
        })
    }

    /// Reads the periods and merges them into the cache (stored unless `dry`).
    pub(super) async fn read_periods(
        &self,
        query: &TimeOffQuery,
        full: bool,
        dry: bool,
        issues: &Issues<'_>,
    ) -> Result<Periods, SyncError> {
        let cached = self.store.periods().await?;
        let read = self
            .personio
            .time_offs(query)
            .await
            .map_err(SyncError::Personio)?;
        // A period Personio sent but we could not read is not gone: keep what we know of it. If
        // a broken record has no readable id, nothing can be concluded from its absence.
        let unreadable: Option<HashSet<i64>> = read
            .rejected
            .iter()
            .map(|r| r.id.as_deref().and_then(|id| id.parse().ok()))
            .collect();
        let (items, changed, removals) = merge_periods(
            cached,
            read.items,
            if full { unreadable.as_ref() } else { None },
        );
        if !dry {
            self.store
                .update_periods(only(&items, &changed), &removals)
                .await?;
        }
        Ok(Periods {
            items,
            issues: issues.unreadable("periods", &read.rejected),
            complete: read.rejected.is_empty(),
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
                .set_cursor(CURSOR_UPDATED_FROM, &window.today.to_string())
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

/// Merges a read into the cached periods. A full read (`full_except` holds the ids of records it
/// could not read) is the whole truth: what it lacks is gone. An incremental read (`None`) only
/// brings changes. Returns the merged set, the ids of the periods that changed (by id, not
/// copies: on a first sync that is all of them) and the ids of those gone.
fn merge_periods(
    cached: Vec<AbsencePeriod>,
    read: Vec<AbsencePeriod>,
    full_except: Option<&HashSet<i64>>,
) -> (Vec<AbsencePeriod>, HashSet<i64>, Vec<i64>) {
    let mut merged: BTreeMap<i64, AbsencePeriod> = cached.into_iter().map(|p| (p.id, p)).collect();
    let seen: HashSet<i64> = read.iter().map(|p| p.id).collect();
    let removals: Vec<i64> = match full_except {
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
    for p in read {
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
    fn full_reads_replace_the_cache_and_incremental_reads_patch_it() {
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
