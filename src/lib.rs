//! personio-productive-sync: keeps Productive.io time off in step with Personio absences.
//!
//! Data flows one way: read (`personio`, `productive`) → plan (`sync::plan`, pure) → apply
//! (`sync::engine`, journaled writes) → record (`store`). `daemon` schedules runs, `server` serves health, metrics and status beside it; `sim` holds
//! faithful simulators of both APIs for tests, the demo and the benchmark.

pub mod app;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod domain;
pub mod http;
pub mod personio;
pub mod productive;
pub mod server;
pub mod sim;
pub mod store;
pub mod sync;
pub mod telemetry;
