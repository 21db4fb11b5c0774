-- A client's key for a message it sends (Idempotency-Key), so a resend after a lost response
-- returns the first message instead of storing it twice.
ALTER TABLE messages ADD COLUMN client_key TEXT;
CREATE UNIQUE INDEX messages_client_key ON messages (session_id, client_key) WHERE client_key IS NOT NULL;
