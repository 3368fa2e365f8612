//! What can stop a run, separated into what passes by itself and what needs someone to act.

use crate::http::ApiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("reading Personio failed")]
    Personio(#[source] ApiError),
    #[error("talking to Productive failed")]
    Productive(#[source] ApiError),
    #[error("state store failed")]
    Store(#[from] StoreError),
    #[error("the absence type has no Productive event yet")]
    NoEvent,
    #[error("another sync holds the run lock")]
    Locked,
    /// Refused earlier (by Productive, or held by the sync) and nothing changed since.
    #[error("{0} (tried again when the absence changes or at the next full reconcile)")]
    Refused(String),
    #[error("an approver rejected booking {0} in Productive, so the sync leaves it as it is; approve it there, or change or delete the absence in Personio")]
    Rejected(i64),
}

impl SyncError {
    /// Likely to pass on a later run without anyone acting.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Personio(e) | Self::Productive(e) => e.is_transient(),
            Self::Store(e) => e.is_transient(),
            Self::Locked => true,
            Self::Refused(_) | Self::Rejected(_) | Self::NoEvent => false,
        }
    }
}

/// A write whose request may have reached Productive although no answer came back.
pub(super) fn is_ambiguous(error: &ApiError) -> bool {
    matches!(error, ApiError::Transport { .. } | ApiError::Decode { .. })
        || error.status().is_some_and(|s| s >= 500)
}
