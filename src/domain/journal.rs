//! The journal of bookings the sync owns: an intent recorded before each write, its outcome after
//! it. The sync decides with these types; the store maps its rows to them.

use std::str::FromStr;

use super::{BookingKey, BookingShape};

/// Where a journaled write stands. Anything but `Synced` means a write was started and its
/// outcome is not known to have been recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalState {
    Creating,
    Synced,
    Updating,
    Deleting,
    /// Productive refused the create (a 4xx): nothing exists, the reason is kept.
    Refused,
}

impl JournalState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Synced => "synced",
            Self::Updating => "updating",
            Self::Deleting => "deleting",
            Self::Refused => "refused",
        }
    }
}

/// A journal state name this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown journal state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for JournalState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "creating" => Self::Creating,
            "synced" => Self::Synced,
            "updating" => Self::Updating,
            "deleting" => Self::Deleting,
            "refused" => Self::Refused,
            other => return Err(UnknownState(other.to_string())),
        })
    }
}

/// A booking the sync owns (or is about to), as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub key: BookingKey,
    pub shape: BookingShape,
    pub note: String,
    pub booking_id: Option<i64>,
    pub state: JournalState,
    /// False while Productive holds the booking pending approval.
    pub approved: bool,
    /// An approver rejected it in Productive.
    pub rejected: bool,
    /// Why Productive refused it (state `Refused`).
    pub error: Option<String>,
}
