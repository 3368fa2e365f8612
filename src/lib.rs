//! personio-productive-sync: keeps Productive.io time off in step with Personio absences.
//!
//! Data flows one way: read (`personio`, `productive`) → plan (`sync::plan`, pure) → apply
//! (`sync::apply`, journaled writes) → record (`store`).

pub mod config;
pub mod daemon;
pub mod domain;
pub mod http;
pub mod personio;
pub mod productive;
pub mod sim;
pub mod store;
pub mod sync;
pub mod telemetry;
