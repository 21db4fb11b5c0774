-- Accounts, planning sessions, messages and documents.

CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 254),
    name          TEXT,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    plan          TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'team')),
    created_at    TEXT NOT NULL
);

CREATE TABLE auth_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX auth_tokens_user_id ON auth_tokens (user_id);

CREATE TABLE planning_sessions (
    id               BLOB PRIMARY KEY NOT NULL,
    user_id          BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workflow_id      TEXT NOT NULL,
    title            TEXT NOT NULL CHECK (length(title) > 0),
    idea             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'completed', 'abandoned')),
    current_step     TEXT,
    completed_steps  INTEGER NOT NULL DEFAULT 0 CHECK (completed_steps >= 0),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    first_message_at TEXT,
    completed_at     TEXT
);
CREATE INDEX planning_sessions_user_recent ON planning_sessions (user_id, id DESC);

CREATE TABLE messages (
    id            BLOB PRIMARY KEY NOT NULL,
    session_id    BLOB NOT NULL REFERENCES planning_sessions (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL CHECK (seq > 0),
    role          TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    step_id       TEXT NOT NULL,
    content       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'streaming', 'complete', 'failed', 'interrupted')),
    error_code    TEXT,
    error_message TEXT,
    provider      TEXT,
    model         TEXT,
    events        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (session_id, seq)
);
CREATE INDEX messages_unfinished ON messages (status) WHERE status IN ('queued', 'streaming');

CREATE TABLE documents (
    id         BLOB PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL REFERENCES planning_sessions (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL CHECK (position >= 0),
    step_id    TEXT NOT NULL,
    title      TEXT NOT NULL,
    revision   INTEGER NOT NULL DEFAULT 0 CHECK (revision >= 0),
    filled     INTEGER NOT NULL DEFAULT 0 CHECK (filled >= 0),
    updated_at TEXT NOT NULL,
    UNIQUE (session_id, step_id),
    UNIQUE (session_id, position)
);

CREATE TABLE document_revisions (
    document_id  BLOB NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    revision     INTEGER NOT NULL CHECK (revision > 0),
    author       TEXT NOT NULL CHECK (author IN ('ai', 'user')),
    content      TEXT NOT NULL,
    content_hash TEXT NOT NULL CHECK (length(content_hash) = 64),
    message_id   BLOB REFERENCES messages (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (document_id, revision)
);
CREATE INDEX document_revisions_message ON document_revisions (message_id) WHERE message_id IS NOT NULL;
