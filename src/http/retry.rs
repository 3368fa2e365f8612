//! When to try a request again: jittered backoff, and the wait a 429 asks for.

use std::time::Duration;

use rand::Rng;
use reqwest::header::HeaderMap;

/// Jittered exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest wait a 429 may ask for before the call gives up (and the run retries later).
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_rate_limit_wait: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// "Full jitter": a uniform wait between half and all of the exponential step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exp.min(self.max_delay);
        let millis = capped.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis.max(1)))
    }
}

/// The longest wait a header is taken at its word for; anything longer (`u64::MAX` seconds, say)
/// reads as this, far beyond any `max_rate_limit_wait`, so the call gives up instead of a
/// `Duration` or an `Instant` overflowing.
const MAX_HEADER_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a 429 asks us to wait: `X-RateLimit-Reset` (seconds) or `Retry-After` (seconds),
/// at most [`MAX_HEADER_WAIT`].
pub(super) fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    ["x-ratelimit-reset", "retry-after"]
        .iter()
        .find_map(|name| {
            let raw = headers.get(*name)?.to_str().ok()?.trim();
            raw.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| {
                    Duration::try_from_secs_f64(s)
                        .map_or(MAX_HEADER_WAIT, |d| d.min(MAX_HEADER_WAIT))
                })
        })
}

/// How long a 429 that says nothing of when to come back waits (Personio v2 sends no
/// `Retry-After` and asks for at least a second).
pub(super) const UNHINTED_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// How long to hold back after a success that emptied the server's token bucket
/// (`x-ratelimit-remaining: 0` with `x-ratelimit-replenish-rate` tokens per second, as Personio
/// v2's gateway sends): until the next token, so that the next request does not meet a 429.
pub(super) fn bucket_empty_wait(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
    };
    let remaining = number("x-ratelimit-remaining")?;
    let rate = number("x-ratelimit-replenish-rate").filter(|r| *r > 0.0)?;
    // At most a second: a bucket refilling slower than one token a second is paced by 429s.
    (remaining < 1.0).then(|| Duration::from_secs_f64((1.0 / rate).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_waits_for_its_next_token() {
        let headers = |remaining: &str, rate: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-remaining", remaining.parse().unwrap());
            h.insert("x-ratelimit-replenish-rate", rate.parse().unwrap());
            h
        };
        assert_eq!(
            bucket_empty_wait(&headers("0", "10")),
            Some(Duration::from_millis(100))
        );
        assert_eq!(bucket_empty_wait(&headers("3", "10")), None);
        assert_eq!(
            bucket_empty_wait(&headers("0", "0.001")),
            Some(Duration::from_secs(1))
        );
        for (remaining, rate) in [("0", "0"), ("0", "-1"), ("x", "10"), ("0", "NaN")] {
            assert_eq!(bucket_empty_wait(&headers(remaining, rate)), None, "{rate}");
        }
        let mut only_remaining = HeaderMap::new();
        only_remaining.insert("x-ratelimit-remaining", "0".parse().unwrap());
        assert_eq!(bucket_empty_wait(&only_remaining), None);
    }

    #[test]
    fn reads_rate_limit_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("X-RateLimit-Reset", "7".parse().unwrap());
        assert_eq!(rate_limit_wait(&headers), Some(Duration::from_secs(7)));
        let mut headers = HeaderMap::new();
        headers.insert("Retry-After", "2".parse().unwrap());
        assert_eq!(rate_limit_wait(&headers), Some(Duration::from_secs(2)));
        assert_eq!(rate_limit_wait(&HeaderMap::new()), None);
    }

    #[test]
    fn huge_waits_are_clamped() {
        for raw in ["18446744073709551615", "1e300", "1e20"] {
            let mut headers = HeaderMap::new();
            headers.insert("Retry-After", raw.parse().unwrap());
            assert_eq!(rate_limit_wait(&headers), Some(MAX_HEADER_WAIT), "{raw}");
        }
    }

    proptest::proptest! {
        /// Whatever bytes a server puts in either header, reading them never panics, and a wait
        /// read is never longer than the clamp.
        #[test]
        fn any_header_value_reads_without_panic(
            reset in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            retry_after in "\\PC{0,30}",
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(value) = reqwest::header::HeaderValue::from_bytes(&reset) {
                headers.insert("x-ratelimit-reset", value);
            }
            if let Ok(value) = retry_after.parse() {
                headers.insert("retry-after", value);
            }
            if let Some(wait) = rate_limit_wait(&headers) {
                proptest::prop_assert!(wait <= MAX_HEADER_WAIT);
            }
        }

        /// Numbers of every size, as servers write them: seconds, exponents, fractions.
        #[test]
        fn any_number_reads_without_panic(secs in proptest::num::f64::ANY, whole in proptest::num::u64::ANY) {
            for raw in [secs.to_string(), whole.to_string(), format!("{secs:e}")] {
                let mut headers = HeaderMap::new();
                headers.insert("retry-after", raw.parse().unwrap());
                let wait = rate_limit_wait(&headers);
                proptest::prop_assert!(wait.is_none_or(|w| w <= MAX_HEADER_WAIT), "{raw}: {wait:?}");
            }
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_rate_limit_wait: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            assert!(policy.backoff(9) <= Duration::from_secs(1));
            assert!(policy.backoff(9) >= Duration::from_millis(500));
        }
    }
}
