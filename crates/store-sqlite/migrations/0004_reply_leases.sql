-- Reply ownership: the instance generating a reply holds a lease on it (renewed every few
-- seconds); once it expires, any instance may claim the reply and generate it again. Times are
-- milliseconds since the Unix epoch by the database's clock. `last_event_id` is the number of
-- the last stream event checkpointed, so numbering continues past it after a takeover.
ALTER TABLE messages ADD COLUMN lease_owner TEXT;
ALTER TABLE messages ADD COLUMN lease_until_ms INTEGER;
ALTER TABLE messages ADD COLUMN last_event_id INTEGER NOT NULL DEFAULT 0 CHECK (last_event_id >= 0);
