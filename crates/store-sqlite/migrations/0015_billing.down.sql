DROP TABLE billing_payments;
DROP TABLE mrr_movements;
DROP TABLE subscriptions;
DROP TABLE billing_customers;
DROP TABLE billing_events;
