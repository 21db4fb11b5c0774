-- Product events (docs/analytics.md): typed, written in batches by the server, read back only
-- as sums. An account's events go with the account.
CREATE TABLE product_events (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    name     TEXT,
    workflow TEXT,
    at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX product_events_user_kind ON product_events (user_id, kind, at);
CREATE INDEX product_events_kind_at ON product_events (kind, at);
