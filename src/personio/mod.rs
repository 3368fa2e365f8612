//! Personio API clients: v1 (auth, absence types, time-offs, hourly absence periods) and v2
//! ([`v2`]), behind one [`AbsenceSource`].

mod client;
mod time_offs;
mod token;
pub mod v2;
pub mod wire;

pub use client::PersonioClient;
pub use time_offs::{AbsenceSource, Lookup, TimeOffQuery};
pub use v2::PersonioV2Client;
