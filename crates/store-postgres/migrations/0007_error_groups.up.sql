-- Server and browser errors grouped by fingerprint, for the admin's error list when no Sentry
-- is configured (and for the one notification a new group sends).
CREATE TABLE error_groups (
    fingerprint       TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('http_5xx', 'panic', 'client')),
    title             TEXT NOT NULL,
    detail            TEXT NOT NULL,
    count             BIGINT NOT NULL,
    first_seen        TIMESTAMPTZ NOT NULL,
    last_seen         TIMESTAMPTZ NOT NULL,
    sample_request_id TEXT,
    sample_user_id    UUID,
    release           TEXT NOT NULL
);
CREATE INDEX error_groups_last_seen ON error_groups (last_seen DESC);

