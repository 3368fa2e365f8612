//! Personio API client (v1): auth, absence types, time-offs, hourly absence periods.
