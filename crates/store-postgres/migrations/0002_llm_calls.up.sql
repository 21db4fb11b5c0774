-- Every model call of a reply: who, which provider and model, tokens, cost, timing, outcome.

CREATE TABLE llm_calls (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id    UUID REFERENCES planning_sessions (id) ON DELETE SET NULL,
    reply_id      UUID REFERENCES messages (id) ON DELETE SET NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    input_tokens  BIGINT NOT NULL CHECK (input_tokens >= 0),
    output_tokens BIGINT NOT NULL CHECK (output_tokens >= 0),
    cost_micros   BIGINT NOT NULL CHECK (cost_micros >= 0),
    latency_ms    BIGINT NOT NULL CHECK (latency_ms >= 0),
    ttft_ms       BIGINT CHECK (ttft_ms >= 0),
    attempts      BIGINT NOT NULL CHECK (attempts >= 0),
    outcome       TEXT NOT NULL CHECK (outcome IN ('complete', 'failed', 'interrupted')),
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX llm_calls_time ON llm_calls (created_at);
CREATE INDEX llm_calls_user_time ON llm_calls (user_id, created_at);
