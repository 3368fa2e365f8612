//! What one run did, by kind of outcome: kept with the run record and shown by `status`. Read
//! back with defaults for what an older version did not count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// Pending bookings approved on Personio's behalf.
    pub approved: usize,
    /// Bookings found by their marker and taken into the journal (interrupted creates).
    pub adopted: usize,
    /// Owned bookings edited or deleted in Productive and put back.
    pub drift_repaired: usize,
    pub events_created: usize,
    pub events_renamed: usize,
    /// Skipped records by reason.
    pub skipped: BTreeMap<String, usize>,
    pub failed: usize,
    /// Of those, failures that may pass by themselves (tried again within the run first).
    pub failed_transient: usize,
    /// Dry runs only: what a real run would write.
    pub planned_creates: usize,
    pub planned_updates: usize,
    pub planned_deletes: usize,
    /// Deletions this run held back by the mass-deletion guard.
    pub mass_delete_held: Option<MassDeleteHold>,
}

/// A run's deletions held back: how many bookings it would have deleted of how many it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassDeleteHold {
    pub would_delete: usize,
    pub owned: usize,
}

impl Counts {
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

/// How far a run's write phase is. A first sync of a large organisation writes for hours at
/// Productive's limits, so operators see this while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WriteProgress {
    pub done: u64,
    pub total: u64,
    /// Since the write phase began.
    pub elapsed_secs: f64,
}

impl WriteProgress {
    pub fn per_second(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.done as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }

    /// At the rate so far; `None` before the first write is done.
    pub fn seconds_left(&self) -> Option<f64> {
        let rate = self.per_second();
        (rate > 0.0).then(|| self.total.saturating_sub(self.done) as f64 / rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_follows_the_rate_so_far() {
        let p = WriteProgress {
            done: 300,
            total: 1200,
            elapsed_secs: 60.0,
        };
        assert_eq!(p.per_second(), 5.0);
        assert_eq!(p.seconds_left(), Some(180.0));
        let none = WriteProgress {
            done: 0,
            total: 10,
            elapsed_secs: 0.0,
        };
        assert_eq!(none.seconds_left(), None);
    }
}
