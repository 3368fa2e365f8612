//! Personio API v2 client: OAuth2 client-credential tokens, cursor paging, absence types and
//! periods (joined with persons for the email), the end-date calibration against the per-day
//! breakdowns, and webhook subscription management.

mod client;
mod periods;
mod persons;
mod source;
mod webhooks;
pub mod wire;

pub use client::PersonioV2Client;
pub use webhooks::{Subscription, SubscriptionOutcome, ABSENCE_EVENTS};
