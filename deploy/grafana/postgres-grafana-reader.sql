-- Runs once after 10-init.sql on the first start of an empty postgres volume
-- (docker-entrypoint-initdb.d), as the superuser. Creates the read-only role Grafana's
-- PostgreSQL datasource logs in with: it can read the churn tables and nothing else.
-- Existing volume / RDS: run it once by hand with GRAFANA_DB_PASSWORD set:
--   psql "$MASTER_URL" -v ON_ERROR_STOP=1 -f deploy/grafana/postgres-grafana-reader.sql
\set ON_ERROR_STOP on

\getenv grafana_password GRAFANA_DB_PASSWORD

CREATE ROLE grafana_reader LOGIN PASSWORD :'grafana_password';
-- Dashboards query unqualified table names; a runaway panel query cannot hold the database.
ALTER ROLE grafana_reader SET search_path = churn;
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
ALTER ROLE grafana_reader SET statement_timeout = '30s';

GRANT CONNECT ON DATABASE churn TO grafana_reader;

\connect churn
GRANT USAGE ON SCHEMA churn TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA churn TO grafana_reader;
-- The application (role churn) creates its tables later, on its first run.
ALTER DEFAULT PRIVILEGES FOR ROLE churn IN SCHEMA churn GRANT SELECT ON TABLES TO grafana_reader;
