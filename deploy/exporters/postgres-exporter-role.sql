-- The role prometheus-postgres-exporter connects as: read-only access to the statistics views
-- through the built-in pg_monitor role (PostgreSQL 10 and later), nothing else.
--   sudo -u postgres psql -f deploy/exporters/postgres-exporter-role.sql
-- Over TCP, also give it a password (\password prometheus) and a pg_hba.conf line.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'prometheus') THEN
    CREATE ROLE prometheus LOGIN;
  END IF;
END
$$;
GRANT pg_monitor TO prometheus;
ALTER ROLE prometheus SET statement_timeout = '10s';
