-- Each account's data key, wrapped by a key-encryption key (crypto.keys) the database does not
-- hold. Deleting the account deletes its key: every copy of its content becomes unreadable.
CREATE TABLE data_keys (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    UUID NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    kek_id     TEXT NOT NULL,
    wrapped    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX data_keys_kek ON data_keys (kek_id);
