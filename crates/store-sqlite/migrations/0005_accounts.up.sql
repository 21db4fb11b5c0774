-- Accounts: sign-ins a user can see and revoke, disabled accounts, an admin's plan override,
-- and the security event log.
--
-- Each sign-in (token) gets a public id, when it was last used (the idle timeout slides from
-- it; it is written at most once a minute per token), and the client address and user agent
-- it signed in from. SQLite cannot add a NOT NULL column without a default, so the table is
-- made again; tokens issued before keep working (last used = issued).
CREATE TABLE auth_tokens_new (
    token_hash   BLOB PRIMARY KEY NOT NULL,
    id           BLOB NOT NULL UNIQUE,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    address      TEXT,
    user_agent   TEXT
);
INSERT INTO auth_tokens_new (token_hash, id, user_id, created_at, expires_at, last_used_at)
SELECT token_hash, randomblob(16), user_id, created_at, expires_at, created_at FROM auth_tokens;
DROP TABLE auth_tokens;
ALTER TABLE auth_tokens_new RENAME TO auth_tokens;
CREATE INDEX auth_tokens_user_id ON auth_tokens (user_id);
-- The purge of expired tokens.
CREATE INDEX auth_tokens_expires_at ON auth_tokens (expires_at);
CREATE INDEX auth_tokens_last_used_at ON auth_tokens (last_used_at);

-- A disabled account cannot sign in and its tokens stop working. The plan override (set by an
-- admin, e.g. a complimentary account) wins over the billed plan.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE users ADD COLUMN plan_override TEXT CHECK (plan_override IN ('free', 'pro', 'team'));

-- Security events (sign-ups, sign-ins and failures, lockouts, password changes, revoked
-- tokens, admin actions, denied admin requests), newest first by id (UUIDv7). No foreign key
-- to users: the log outlives what it speaks of.
CREATE TABLE security_events (
    id         BLOB PRIMARY KEY NOT NULL,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    BLOB,
    address    TEXT,
    request_id TEXT,
    outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    detail     TEXT
);
CREATE INDEX security_events_user ON security_events (user_id, id);
CREATE INDEX security_events_kind ON security_events (kind, id);
CREATE INDEX security_events_at ON security_events (at);
