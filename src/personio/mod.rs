//! Personio API client (v1): auth, absence types, time-offs, hourly absence periods.

mod client;
pub mod wire;

pub use client::{AbsenceSource, Employee, PersonioClient, TimeOffQuery};
