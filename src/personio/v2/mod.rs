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

/// The sync's integer key of a record that only has a v2 (string) id: stable across runs and
/// processes, and negative so that it never collides with a v1 id.
///
/// Stand-in for `crate::domain::key_for_v2` (domain/identity.rs), which replaces it on merge.
pub(crate) fn key_for_v2(id: &str) -> i64 {
    // FNV-1a: fixed by its definition, unlike std's hasher, which may change between releases.
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    // The top 63 bits as a number in 1..=2^63, negated: always below zero, never overflowing.
    -((hash >> 1) as i64) - 1
}

#[cfg(test)]
mod tests {
    use super::key_for_v2;

    #[test]
    fn v2_keys_are_stable_negative_and_distinct() {
        // FNV-1a of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        assert_eq!(
            key_for_v2("a"),
            -((0xaf63_dc4c_8601_ec8c_u64 >> 1) as i64) - 1
        );
        for id in ["", "a", "f8228cda-5615-4e81-8cba-21fa5e996291", "3003"] {
            assert!(key_for_v2(id) < 0, "{id}");
            assert_eq!(key_for_v2(id), key_for_v2(id));
        }
        assert_ne!(key_for_v2("x1"), key_for_v2("x2"));
    }
}
