//! Client-side rate limiting, so that normal operation never meets a 429.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Keeps the request rate under several sliding windows at once (e.g. 50 per 10 s and 2,000 per
/// 30 min), so that normal operation never meets a 429.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<PacerState>,
}

#[derive(Debug)]
struct PacerState {
    windows: Vec<Window>,
    paused_until: Option<Instant>,
}

#[derive(Debug)]
struct Window {
    limit: usize,
    period: Duration,
    sent: VecDeque<Instant>,
}

/// One request budget: at most `requests` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub period: Duration,
}

impl Pacer {
    pub fn new(limits: &[RateLimit]) -> Self {
        let windows = limits
            .iter()
            .filter(|l| l.requests > 0)
            .map(|l| Window {
                limit: l.requests as usize,
                period: l.period,
                sent: VecDeque::new(),
            })
            .collect();
        Self {
            state: Mutex::new(PacerState {
                windows,
                paused_until: None,
            }),
        }
    }

    /// Waits until one more request fits every window, then counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let mut ready_at = state.paused_until.filter(|t| *t > now);
                for window in &mut state.windows {
                    while window
                        .sent
                        .front()
                        .is_some_and(|t| now.duration_since(*t) >= window.period)
                    {
                        window.sent.pop_front();
                    }
                    if window.sent.len() >= window.limit {
                        let free_at = window.sent[window.sent.len() - window.limit] + window.period;
                        ready_at = Some(ready_at.map_or(free_at, |r| r.max(free_at)));
                    }
                }
                match ready_at {
                    Some(at) => at - now,
                    None => {
                        for window in &mut state.windows {
                            window.sent.push_back(now);
                        }
                        return;
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every request back for `wait` (the server said its window is exhausted).
    pub async fn pause_for(&self, wait: Duration) {
        let mut state = self.state.lock().await;
        let until = Instant::now() + wait;
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_holds_requests_to_every_window() {
        let pacer = Pacer::new(&[
            RateLimit {
                requests: 3,
                period: Duration::from_secs(10),
            },
            RateLimit {
                requests: 5,
                period: Duration::from_secs(60),
            },
        ]);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            pacer.acquire().await;
            at.push((Instant::now() - start).as_secs());
        }
        // 3 at once, 2 more after 10 s (the minute window then holds 5), the rest after 60 s.
        assert_eq!(at, vec![0, 0, 0, 10, 10, 60, 60]);
    }
}
