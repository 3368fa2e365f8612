//! Pure rules, no I/O: the window, matching people, capacity, half days and splitting periods
//! into bookings.

pub mod bookings;
pub mod capacity;
pub mod matching;
pub mod model;
pub mod window;

pub use model::*;
