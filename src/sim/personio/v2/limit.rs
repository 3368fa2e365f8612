//! v2 rate limits: a token bucket per endpoint (a Spring Cloud Gateway one, by its headers),
//! whose state every response reports and whose 429 carries no `Retry-After`; and the token
//! endpoint's 150 per minute, then 1 per second for a minute.

use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use tokio::time::Instant;

use super::render::v2_error;
use crate::sim::personio::render::Fail;
use crate::sim::personio::PersonioSim;
use crate::sim::SlidingLimit;

/// The v2 endpoints with a bucket of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::sim::personio) enum Endpoint {
    AbsencePeriods,
    Breakdowns,
    AbsenceTypes,
    Persons,
    Webhooks,
}

impl Endpoint {
    /// Requests per second, as observed (webhooks: a guess).
    fn rate(self) -> f64 {
        match self {
            Self::Persons => 30.0,
            Self::AbsencePeriods | Self::Breakdowns | Self::AbsenceTypes | Self::Webhooks => 10.0,
        }
    }
}

/// What one request took from a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Taken {
    allowed: bool,
    remaining: u64,
}

#[derive(Debug)]
struct TokenBucket {
    /// Tokens per second (the scale applied).
    rate: f64,
    burst: f64,
    /// Tokens left, as of the instant.
    level: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    fn new(per_second: f64, scale: f64) -> Self {
        // Scale multiplies windows, like v1's: 0 lifts the limit, infinity never refills.
        let rate = if scale > 0.0 {
            per_second / scale
        } else {
            f64::INFINITY
        };
        Self {
            rate,
            burst: per_second,
            level: Mutex::new((per_second, Instant::now())),
        }
    }

    fn take(&self, now: Instant) -> Taken {
        if self.rate.is_infinite() {
            return Taken {
                allowed: true,
                remaining: self.burst as u64,
            };
        }
        let mut level = self.level.lock().unwrap();
        let refill = now.duration_since(level.1).as_secs_f64() * self.rate;
        let tokens = (level.0 + refill).min(self.burst);
        let allowed = tokens >= 1.0;
        let left = if allowed { tokens - 1.0 } else { tokens };
        *level = (left, now);
        Taken {
            allowed,
            remaining: left.floor() as u64,
        }
    }
}

/// The token endpoint: over 150 a minute, only 1 a second is accepted for the next minute.
#[derive(Debug)]
pub(in crate::sim::personio) struct TokenLimit {
    window: SlidingLimit,
    slow: SlidingLimit,
    penalty: Duration,
    penalty_until: Mutex<Option<Instant>>,
}

impl TokenLimit {
    fn new(scale: f64) -> Self {
        let scaled = |secs| Duration::from_secs(secs).mul_f64(scale.max(0.0));
        Self {
            window: SlidingLimit::new(150, scaled(60)),
            slow: SlidingLimit::new(1, scaled(1)),
            penalty: scaled(60),
            penalty_until: Mutex::new(None),
        }
    }

    pub(in crate::sim::personio) fn check(&self) -> Result<(), Fail> {
        let now = Instant::now();
        let mut until = self.penalty_until.lock().unwrap();
        let allowed = if until.is_some_and(|u| now < u) {
            self.slow.check().is_ok()
        } else if self.window.check().is_ok() {
            true
        } else {
            *until = Some(now + self.penalty);
            false
        };
        if allowed {
            Ok(())
        } else {
            Err(too_many())
        }
    }
}

/// The v2 limits, rebuilt with v1's when the scale changes.
#[derive(Debug)]
pub(in crate::sim::personio) struct V2Limits {
    pub(in crate::sim::personio) token: TokenLimit,
    buckets: [(Endpoint, TokenBucket); 5],
}

impl V2Limits {
    pub(in crate::sim::personio) fn new(scale: f64) -> Self {
        let bucket = |e: Endpoint| (e, TokenBucket::new(e.rate(), scale));
        Self {
            token: TokenLimit::new(scale),
            buckets: [
                bucket(Endpoint::AbsencePeriods),
                bucket(Endpoint::Breakdowns),
                bucket(Endpoint::AbsenceTypes),
                bucket(Endpoint::Persons),
                bucket(Endpoint::Webhooks),
            ],
        }
    }

    fn bucket(&self, endpoint: Endpoint) -> &TokenBucket {
        let found = self.buckets.iter().find(|(e, _)| *e == endpoint);
        // Every endpoint has its bucket (built from the full list above).
        &found.unwrap_or(&self.buckets[0]).1
    }
}

fn too_many() -> Fail {
    v2_error(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "Rate limit exceeded. Try again later.",
    )
}

/// Wraps a route in its endpoint's bucket: over it, a 429; every answer reports the bucket.
pub(in crate::sim::personio) fn limited(
    sim: &PersonioSim,
    endpoint: Endpoint,
    route: MethodRouter<PersonioSim>,
) -> MethodRouter<PersonioSim> {
    route.route_layer(axum::middleware::from_fn_with_state(
        (sim.clone(), endpoint),
        middleware,
    ))
}

async fn middleware(
    State((sim, endpoint)): State<(PersonioSim, Endpoint)>,
    request: Request,
    next: Next,
) -> Response {
    let limits = sim.limits();
    let bucket = limits.v2.bucket(endpoint);
    let taken = bucket.take(Instant::now());
    let mut response = if taken.allowed {
        next.run(request).await
    } else {
        too_many().into_response()
    };
    let headers = response.headers_mut();
    let rate = if bucket.rate.is_finite() {
        bucket.rate.round() as u64
    } else {
        u64::from(u32::MAX)
    };
    for (name, value) in [
        ("x-ratelimit-replenish-rate", rate),
        ("x-ratelimit-burst-capacity", bucket.burst as u64),
        ("x-ratelimit-requested-tokens", 1),
        ("x-ratelimit-remaining", taken.remaining),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_spends_its_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let bucket = TokenBucket::new(10.0, 1.0);
        let remaining: Vec<u64> = (0..10).map(|_| bucket.take(start).remaining).collect();
        assert_eq!(remaining, vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        assert!(!bucket.take(start).allowed);
        // 10 per second: a quarter second brings back 2.5 tokens.
        let later = start + Duration::from_millis(250);
        assert_eq!(
            bucket.take(later),
            Taken {
                allowed: true,
                remaining: 1
            }
        );
        // Refills stop at the burst capacity.
        let much_later = later + Duration::from_secs(60);
        assert_eq!(bucket.take(much_later).remaining, 9);
    }

    #[test]
    fn the_scale_stretches_the_refill_and_zero_lifts_the_limit() {
        let start = Instant::now();
        let slow = TokenBucket::new(10.0, 100.0);
        for _ in 0..10 {
            slow.take(start);
        }
        // At 0.1 per second, one second brings back no whole token.
        assert!(!slow.take(start + Duration::from_secs(1)).allowed);
        let open = TokenBucket::new(10.0, 0.0);
        assert!((0..1000).all(|_| open.take(start).allowed));
    }
}
