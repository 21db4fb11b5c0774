-- The audit trail: who read or changed what, when, from which network. Each entry chains the
-- previous entry's hash (tamper evidence); checkpoints sign the chain's hash at a position with
-- a key the database does not hold. Opaque ids only: an erasure never rewrites these rows.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY NOT NULL CHECK (seq > 0),
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL CHECK (actor IN ('user', 'admin', 'system')),
    actor_id   BLOB,
    action     TEXT NOT NULL,
    user_id    BLOB,
    session_id BLOB,
    object     TEXT,
    network    TEXT,
    request_id TEXT,
    prev_hash  TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash       TEXT NOT NULL CHECK (length(hash) = 64)
);
CREATE INDEX audit_log_user ON audit_log (user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX audit_log_session ON audit_log (session_id, seq) WHERE session_id IS NOT NULL;
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE audit_checkpoints (
    seq    INTEGER PRIMARY KEY NOT NULL,
    hash   TEXT NOT NULL CHECK (length(hash) = 64),
    key_id TEXT NOT NULL,
    mac    TEXT NOT NULL,
    at     TEXT NOT NULL
);
