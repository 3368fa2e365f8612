-- Personio API v2 names periods and types by UUID; v1 by number (and v1 payloads carry the v2 id).
-- The key each v2 id was first synced under, so that switching APIs finds the bookings made.
CREATE TABLE personio_ids (
    kind TEXT NOT NULL,
    v2_id TEXT NOT NULL,
    key BIGINT NOT NULL,
    PRIMARY KEY (kind, v2_id)
);
-- How each API names a cached period, to look it up by id through either.
ALTER TABLE personio_periods ADD COLUMN v1_id BIGINT;
ALTER TABLE personio_periods ADD COLUMN v2_id TEXT;
UPDATE personio_periods SET v1_id = id;
