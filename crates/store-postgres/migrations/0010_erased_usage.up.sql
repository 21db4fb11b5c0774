-- Model usage of erased accounts, kept for billing and cost history without anyone's identity:
-- one row per month (YYYY-MM), provider and model.
CREATE TABLE erased_usage (
    month         TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    calls         BIGINT NOT NULL,
    input_tokens  BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros   BIGINT NOT NULL,
    PRIMARY KEY (month, provider, model)
);
