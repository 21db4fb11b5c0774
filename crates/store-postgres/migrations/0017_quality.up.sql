-- Session quality (docs/analytics.md): each person's rating of a document and the
-- end-of-session survey. Comments are sealed with the person's data key.
CREATE TABLE document_ratings (
    document_id UUID NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id  UUID NOT NULL REFERENCES planning_sessions (id) ON DELETE CASCADE,
    rating      SMALLINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    useful      BOOLEAN NOT NULL,
    comment     TEXT,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (document_id, user_id)
);
CREATE INDEX document_ratings_updated ON document_ratings (updated_at);

CREATE TABLE session_surveys (
    session_id    UUID PRIMARY KEY REFERENCES planning_sessions (id) ON DELETE CASCADE,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csat          SMALLINT NOT NULL CHECK (csat BETWEEN 1 AND 5),
    hours_without DOUBLE PRECISION NOT NULL CHECK (hours_without >= 0 AND hours_without <= 10000),
    comment       TEXT,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX session_surveys_updated ON session_surveys (updated_at);
