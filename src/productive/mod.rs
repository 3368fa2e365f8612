//! Productive API client (JSON:API): people, events, bookings, approval statuses.
