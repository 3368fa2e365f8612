//! Pure rules and the values they work on, no I/O: the window, matching people, capacity, half
//! days, splitting periods into bookings, the journal, a run's counts and match suggestions.

pub mod bookings;
pub mod capacity;
pub mod counts;
pub mod identity;
pub mod journal;
pub mod matching;
pub mod model;
pub mod suggest;
pub mod type_rules;
pub mod window;

pub use counts::{Counts, MassDeleteHold, WriteProgress};
pub use identity::key_for_v2;
pub use journal::{JournalEntry, JournalState};
pub use model::*;
