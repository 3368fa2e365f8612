//! The sync, one file per phase: events (types → events), read (people, hourly), periods (cache,
//! cursors), desired (pure), reconcile (pure, with its I/O shell), plan (pure), apply (journaled
//! writes), issues and report; run ties them together under the run lock.

mod apply;
mod converge;
pub mod desired;
mod error;
pub mod events;
pub mod guard;
pub mod hourly;
mod issues;
mod order;
mod periods;
pub mod plan;
mod progress;
mod read;
pub mod reconcile;
pub mod report;
mod run;

pub use crate::domain::Counts;
pub use converge::WriteRetries;
pub use error::SyncError;
pub use events::EventRef;
pub use guard::MassDeleteGuard;
pub use progress::LiveProgress;
pub use report::RunReport;
pub use run::{Clock, EngineSettings, RunOptions, Syncer, Trigger};
