-- What a person agreed to (GDPR Art. 7): each consent given is a row; withdrawing it sets
-- withdrawn_at (the history stays until the account is erased).
CREATE TABLE consents (
    id           UUID PRIMARY KEY NOT NULL,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    version      TEXT NOT NULL,
    given_at     TIMESTAMPTZ NOT NULL,
    withdrawn_at TIMESTAMPTZ
);
CREATE INDEX consents_user ON consents (user_id, kind);
