DROP INDEX messages_client_key;
ALTER TABLE messages DROP COLUMN client_key;
