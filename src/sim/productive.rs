//! Simulated Productive API.
