DROP TABLE erased_usage;
