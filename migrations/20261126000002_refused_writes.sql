-- Why Productive refused a booking the sync wanted to create (state 'refused'): shown in status
-- while the refusal stands; the create is tried again when the absence changes or at the next
-- full reconcile.
ALTER TABLE synced_bookings ADD COLUMN error TEXT;
