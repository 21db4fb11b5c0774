-- Back to an empty database: everything is dropped.
DROP TABLE document_revisions;
DROP TABLE documents;
DROP TABLE messages;
DROP TABLE planning_sessions;
DROP TABLE auth_tokens;
DROP TABLE users;
