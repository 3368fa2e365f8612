//! The bearer token: fetched once, shared by concurrent requests, renewed shortly before it
//! expires or when the server rejects it.

use std::sync::Arc;

use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::client::{PersonioClient, API, APP_ID_HEADER};
use super::wire;
use crate::http::{ApiError, Retry};

#[derive(Debug)]
pub(super) struct Token {
    pub(super) value: SecretString,
    renew_at: Instant,
}

impl PersonioClient {
    /// The cached token, or a new one when there is none or it is about to expire.
    pub(super) async fn token(&self) -> Result<Arc<Token>, ApiError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.clone());
        }
        let token = Arc::new(self.authenticate().await?);
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Drops `stale` unless another request already replaced it.
    pub(super) async fn forget(&self, stale: &Arc<Token>) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| Arc::ptr_eq(t, stale)) {
            *slot = None;
        }
    }

    async fn authenticate(&self) -> Result<Token, ApiError> {
        let url = self.http.url("/v1/auth");
        // Credentials go in the JSON body: query strings end up in proxy logs and are refused.
        let reply = self
            .http
            .send(Retry::Read, |client| {
                client
                    .post(url.clone())
                    .header(APP_ID_HEADER, &self.app_id)
                    .header(ACCEPT, "application/json")
                    .json(&serde_json::json!({
                        "client_id": self.client_id,
                        "client_secret": self.client_secret.expose_secret(),
                    }))
            })
            .await?;
        let auth: wire::AuthEnvelope = reply.json(API)?;
        if auth.data.token.trim().is_empty() {
            return Err(ApiError::Protocol {
                api: API,
                message: "authentication succeeded but returned no token".into(),
            });
        }
        let renewal = wire::token_renewal(auth.data.expires_in);
        tracing::debug!(api = API, renew_in_s = renewal.as_secs(), "authenticated");
        Ok(Token {
            value: SecretString::from(auth.data.token),
            renew_at: Instant::now() + renewal,
        })
    }
}
