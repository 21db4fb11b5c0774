-- Incident notices (docs/incident-response.md): published by an admin to everyone or to a list
-- of accounts; each recipient's row records when the email was queued and when they read it.
CREATE TABLE incidents (
    id         BLOB PRIMARY KEY NOT NULL,
    severity   TEXT NOT NULL CHECK (severity IN ('sev1', 'sev2', 'sev3', 'sev4')),
    title      TEXT NOT NULL CHECK (length(title) > 0),
    body       TEXT NOT NULL,
    audience   TEXT NOT NULL CHECK (audience IN ('all', 'users')),
    created_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE incident_recipients (
    incident_id BLOB NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    notified_at TEXT,
    read_at     TEXT,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX incident_recipients_user ON incident_recipients (user_id);
