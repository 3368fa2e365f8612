//! Productive API client (JSON:API): people, events, bookings, approval statuses.

mod client;
mod paging;
pub mod wire;

pub use client::{BookingFilter, ProductiveClient};
