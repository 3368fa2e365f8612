//! The sync: read → plan (pure) → apply (journaled writes) → record.

pub mod desired;
pub mod engine;
pub mod plan;
pub mod report;

pub use engine::{RunOptions, SyncError, SyncSettings, Syncer};
pub use report::{Counts, RunReport};
