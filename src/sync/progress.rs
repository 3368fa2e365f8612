//! Progress of the write phase: a line in the log at most every `every`, the same figures in the
//! run record (for `status` from another process) and in memory (for the status page and the
//! metrics of this process).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::WriteProgress;

/// The write progress of the run in progress, readable while it runs.
#[derive(Debug, Clone, Default)]
pub struct LiveProgress(Arc<Mutex<Option<WriteProgress>>>);

impl LiveProgress {
    pub fn get(&self) -> Option<WriteProgress> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set(&self, progress: Option<WriteProgress>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = progress;
    }
}

/// Counts the writes of one round and says when a report is due.
pub(super) struct Tracker {
    done: u64,
    total: u64,
    started: Instant,
    last_report: Instant,
    every: Duration,
}

impl Tracker {
    pub fn new(total: u64, every: Duration) -> Self {
        let now = Instant::now();
        Self {
            done: 0,
            total,
            started: now,
            last_report: now,
            every,
        }
    }

    pub fn snapshot(&self) -> WriteProgress {
        WriteProgress {
            done: self.done,
            total: self.total,
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        }
    }

    /// One more write finished; the progress when a report is due.
    pub fn step(&mut self) -> Option<WriteProgress> {
        self.done += 1;
        if self.last_report.elapsed() < self.every {
            return None;
        }
        self.last_report = Instant::now();
        Some(self.snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reports_at_most_once_per_interval() {
        let mut t = Tracker::new(10, Duration::from_secs(30));
        assert_eq!(t.step(), None);
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(t.step(), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        let due = t.step().expect("30 s passed");
        assert_eq!((due.done, due.total), (3, 10));
        assert_eq!(due.elapsed_secs, 30.0);
        assert_eq!(t.step(), None, "the next report is 30 s later");
    }
}
