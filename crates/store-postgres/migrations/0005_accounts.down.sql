-- Back to 0004: tokens without public ids, last use or client details (they keep working),
-- no disabled flag or plan override, no security event log.
DROP TABLE security_events;
ALTER TABLE users DROP COLUMN plan_override;
ALTER TABLE users DROP COLUMN disabled;
DROP INDEX auth_tokens_last_used_at;
DROP INDEX auth_tokens_expires_at;
ALTER TABLE auth_tokens DROP COLUMN user_agent;
ALTER TABLE auth_tokens DROP COLUMN address;
ALTER TABLE auth_tokens DROP COLUMN last_used_at;
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_id_key;
ALTER TABLE auth_tokens DROP COLUMN id;
