//! Emails (and names, for match suggestions) for periods: v2 periods name only a person id, so
//! the persons they name are read in batches (`/v2/persons?id=a,b,...`, at most 50 a request,
//! the endpoint's page limit) and kept for a few minutes, which spans one sync's reads without
//! keeping a changed address for long.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::client::{PersonioV2Client, PERSONS_READ};
use super::periods::decode;
use super::wire;
use crate::domain::EmployeeName;
use crate::http::ApiError;

/// Persons per request: the largest `limit` `/v2/persons` accepts.
pub(super) const PERSONS_BATCH: usize = 50;
const EMAIL_TTL: Duration = Duration::from_secs(5 * 60);

/// Person id → email and name (`None`: the person exists without a readable email), with when
/// it was read.
#[derive(Debug, Default)]
pub struct EmailCache {
    entries: HashMap<String, (Option<Known>, Instant)>,
}

/// A person with a readable email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub email: String,
    pub name: Option<EmployeeName>,
}

/// What is known of a person's email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Email {
    Known(Known),
    /// The person has none the credential may read.
    Missing,
    /// `/v2/persons` does not know the person.
    NoPerson,
}

impl PersonioV2Client {
    /// The email of each of `ids`, from the cache where fresh, else read in batches.
    pub(super) async fn emails(&self, ids: &[String]) -> Result<HashMap<String, Email>, ApiError> {
        let mut cache = self.emails.lock().await;
        let now = Instant::now();
        cache
            .entries
            .retain(|_, (_, read_at)| now.duration_since(*read_at) < EMAIL_TTL);
        let mut wanted: Vec<&String> = ids
            .iter()
            .filter(|id| !cache.entries.contains_key(id.as_str()))
            .collect();
        wanted.sort();
        wanted.dedup();
        for batch in wanted.chunks(PERSONS_BATCH) {
            let joined = batch
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let url = self.url(
                "/v2/persons",
                &[("limit", PERSONS_BATCH.to_string()), ("id", joined)],
            );
            for record in self.read_pages(url, PERSONS_READ).await? {
                match decode::<wire::Person>(record) {
                    Ok(person) => {
                        let name = match (person.first_name, person.last_name) {
                            (Some(first), Some(last)) => Some(EmployeeName { first, last }),
                            _ => None,
                        };
                        let known = person
                            .email
                            .map(|e| e.trim().to_string())
                            .filter(|e| !e.is_empty())
                            .map(|email| Known { email, name });
                        cache.entries.insert(person.id, (known, now));
                    }
                    Err(rejected) => {
                        tracing::warn!(id = ?rejected.id, reason = %rejected.reason, "unreadable person");
                    }
                }
            }
        }
        Ok(ids
            .iter()
            .map(|id| {
                let email = match cache.entries.get(id) {
                    Some((Some(known), _)) => Email::Known(known.clone()),
                    Some((None, _)) => Email::Missing,
                    None => Email::NoPerson,
                };
                (id.clone(), email)
            })
            .collect())
    }
}
