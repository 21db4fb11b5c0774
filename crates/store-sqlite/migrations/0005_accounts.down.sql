-- Back to 0004: tokens without public ids, last use or client details (they keep working),
-- no disabled flag or plan override, no security event log.
DROP TABLE security_events;
ALTER TABLE users DROP COLUMN plan_override;
ALTER TABLE users DROP COLUMN disabled;
CREATE TABLE auth_tokens_old (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
INSERT INTO auth_tokens_old (token_hash, user_id, created_at, expires_at)
SELECT token_hash, user_id, created_at, expires_at FROM auth_tokens;
DROP TABLE auth_tokens;
ALTER TABLE auth_tokens_old RENAME TO auth_tokens;
CREATE INDEX auth_tokens_user_id ON auth_tokens (user_id);
