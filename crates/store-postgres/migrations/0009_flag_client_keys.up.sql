-- Client keys admins issue for flag evaluation (OFREP) by services without a user's token:
-- only the SHA-256 of the key is kept; a revoked key stays listed with its revocation time.
CREATE TABLE flag_client_keys (
    id         UUID PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    created_by UUID,
    revoked_at TIMESTAMPTZ
);
