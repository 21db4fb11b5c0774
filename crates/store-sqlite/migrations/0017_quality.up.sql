-- Session quality (docs/analytics.md): each person's rating of a document and the
-- end-of-session survey. Comments are sealed with the person's data key.
CREATE TABLE document_ratings (
    document_id BLOB NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id  BLOB NOT NULL REFERENCES planning_sessions (id) ON DELETE CASCADE,
    rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    useful      INTEGER NOT NULL CHECK (useful IN (0, 1)),
    comment     TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (document_id, user_id)
);
CREATE INDEX document_ratings_updated ON document_ratings (updated_at);

CREATE TABLE session_surveys (
    session_id    BLOB PRIMARY KEY NOT NULL REFERENCES planning_sessions (id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csat          INTEGER NOT NULL CHECK (csat BETWEEN 1 AND 5),
    hours_without REAL NOT NULL CHECK (hours_without >= 0 AND hours_without <= 10000),
    comment       TEXT,
    updated_at    TEXT NOT NULL
);
CREATE INDEX session_surveys_updated ON session_surveys (updated_at);
