-- An approver rejected the booking in Productive: the sync never approves it, never counts it as
-- approved and never creates it again; it is reported until the absence changes.
ALTER TABLE synced_bookings ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0;
