//! Pure rules: no I/O. Window, matching, half days, capacity.

pub mod model;

pub use model::*;
