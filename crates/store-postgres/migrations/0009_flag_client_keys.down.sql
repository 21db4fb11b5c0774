DROP TABLE flag_client_keys;
