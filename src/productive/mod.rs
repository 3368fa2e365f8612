//! Productive API client (JSON:API): people, events, bookings, approval statuses.

mod client;
pub mod wire;

pub use client::{BookingFilter, ProductiveClient};
