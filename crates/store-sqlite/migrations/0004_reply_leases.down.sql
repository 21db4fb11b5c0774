-- Back to 0003: no reply leases (replies in progress are then interrupted at the next start,
-- as before leases existed).
ALTER TABLE messages DROP COLUMN last_event_id;
DROP TABLE reply_leases;
