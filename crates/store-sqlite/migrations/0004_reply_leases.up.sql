-- Reply ownership: the instance generating a reply holds a lease on it (renewed every few
-- seconds); once it expires, any instance may claim the reply and generate it again. A row per
-- reply being generated, in a narrow table of its own so renewals rewrite no message. Times are
-- milliseconds since the Unix epoch by the database's clock. `messages.last_event_id` is the
-- number of the last stream event checkpointed, so numbering continues past it after a takeover.
CREATE TABLE reply_leases (
    message_id BLOB PRIMARY KEY NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    owner      TEXT NOT NULL,
    until_ms   INTEGER NOT NULL
);
CREATE INDEX reply_leases_owner ON reply_leases (owner);
ALTER TABLE messages ADD COLUMN last_event_id INTEGER NOT NULL DEFAULT 0 CHECK (last_event_id >= 0);
