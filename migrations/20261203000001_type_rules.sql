-- The event name a type was mapped onto by `[sync.types.map]` when its mapping was made (NULL:
-- its own event). A change of the configured name moves the type's bookings.
ALTER TABLE type_mappings ADD COLUMN mapped_to TEXT;
