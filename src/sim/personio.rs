//! Simulated Personio v1 API.
