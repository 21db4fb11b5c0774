-- Model usage of erased accounts, kept for billing and cost history without anyone's identity:
-- one row per month (YYYY-MM), provider and model.
CREATE TABLE erased_usage (
    month         TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    calls         INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_micros   INTEGER NOT NULL,
    PRIMARY KEY (month, provider, model)
);
