-- Back to 0005: no outbox, single-use tokens, two-factor or verification columns. Outbox mail
-- not yet sent is lost; accounts keep their passwords and sessions.
DROP TABLE email_outbox;
DROP TABLE one_time_tokens;
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_enabled_at;
ALTER TABLE users DROP COLUMN totp_secret;
ALTER TABLE users DROP COLUMN email_verified_at;
