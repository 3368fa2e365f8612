//! Personio API client (v1): auth, absence types, time-offs, hourly absence periods.

mod client;
mod time_offs;
mod token;
pub mod wire;

pub use client::PersonioClient;
pub use time_offs::{AbsenceSource, Lookup, TimeOffQuery};
