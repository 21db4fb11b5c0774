-- Billing (Stripe, docs/analytics.md): each webhook event applied once, customers linked to
-- accounts, their subscriptions with the MRR each brings, every change of a customer's MRR as
-- a movement (new, expansion, contraction, churn, reactivation), and payments.
CREATE TABLE billing_events (
    id          TEXT PRIMARY KEY NOT NULL,
    type        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE billing_customers (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          UUID REFERENCES users (id) ON DELETE SET NULL,
    -- The month of the customer's first MRR: their cohort.
    first_paid_month TEXT,
    past_due_since   TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX billing_customers_user ON billing_customers (user_id);

CREATE TABLE subscriptions (
    id          TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES billing_customers (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    currency    TEXT NOT NULL,
    mrr_cents   BIGINT NOT NULL CHECK (mrr_cents >= 0),
    plan        TEXT CHECK (plan IN ('free', 'pro', 'team')),
    -- When Stripe created the event this state is from: an older event does not overwrite it.
    event_at    TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);

CREATE TABLE mrr_movements (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES billing_customers (id) ON DELETE CASCADE,
    currency        TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    month           TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('new', 'expansion', 'contraction', 'churn', 'reactivation')),
    delta_cents     BIGINT NOT NULL,
    mrr_after_cents BIGINT NOT NULL
);
CREATE INDEX mrr_movements_month ON mrr_movements (month, currency, kind);
CREATE INDEX mrr_movements_customer ON mrr_movements (customer_id, month);

CREATE TABLE billing_payments (
    id           TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('paid', 'failed', 'refunded')),
    customer_id  TEXT NOT NULL REFERENCES billing_customers (id) ON DELETE CASCADE,
    amount_cents BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id, kind)
);
