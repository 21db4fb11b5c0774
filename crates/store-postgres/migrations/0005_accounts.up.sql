-- Accounts: sign-ins a user can see and revoke, disabled accounts, an admin's plan override,
-- and the security event log.
--
-- Each sign-in (token) gets a public id, when it was last used (the idle timeout slides from
-- it; it is written at most once a minute per token), and the client address and user agent
-- it signed in from. Tokens issued before keep working (last used = issued).
ALTER TABLE auth_tokens ADD COLUMN id UUID NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE auth_tokens ALTER COLUMN id DROP DEFAULT;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_id_key UNIQUE (id);
ALTER TABLE auth_tokens ADD COLUMN last_used_at TIMESTAMPTZ;
UPDATE auth_tokens SET last_used_at = created_at;
ALTER TABLE auth_tokens ALTER COLUMN last_used_at SET NOT NULL;
ALTER TABLE auth_tokens ADD COLUMN address TEXT;
ALTER TABLE auth_tokens ADD COLUMN user_agent TEXT;
-- The purge of expired tokens.
CREATE INDEX auth_tokens_expires_at ON auth_tokens (expires_at);
CREATE INDEX auth_tokens_last_used_at ON auth_tokens (last_used_at);

-- A disabled account cannot sign in and its tokens stop working. The plan override (set by an
-- admin, e.g. a complimentary account) wins over the billed plan.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN plan_override TEXT CHECK (plan_override IN ('free', 'pro', 'team'));

-- Security events (sign-ups, sign-ins and failures, lockouts, password changes, revoked
-- tokens, admin actions, denied admin requests), newest first by id (UUIDv7). No foreign key
-- to users: the log outlives what it speaks of.
CREATE TABLE security_events (
    id         UUID PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    kind       TEXT NOT NULL,
    user_id    UUID,
    address    TEXT,
    request_id TEXT,
    outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    detail     TEXT
);
CREATE INDEX security_events_user ON security_events (user_id, id);
CREATE INDEX security_events_kind ON security_events (kind, id);
CREATE INDEX security_events_at ON security_events (at);
