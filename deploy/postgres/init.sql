-- Runs once, on the first start of an empty postgres data volume (docker-entrypoint-initdb.d),
-- as the POSTGRES_USER superuser. One login role and one database per component, each role
-- owning only its own database. Passwords are read from the container environment with psql's
-- \getenv (psql >= 15), never written here.
-- The same script bootstraps RDS once (see docs/deploy.md): set the three variables and run
--   psql "$MASTER_URL" -v ON_ERROR_STOP=1 -f deploy/postgres/init.sql
\set ON_ERROR_STOP on

\getenv churn_password CHURN_DB_PASSWORD
\getenv mlflow_password MLFLOW_DB_PASSWORD
\getenv dagster_password DAGSTER_PG_PASSWORD

CREATE ROLE churn LOGIN PASSWORD :'churn_password';
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE ROLE dagster LOGIN PASSWORD :'dagster_password';

-- On RDS the master user is not a superuser: it must be a member of a role to give it a DB.
GRANT churn TO CURRENT_USER;
GRANT mlflow TO CURRENT_USER;
GRANT dagster TO CURRENT_USER;

CREATE DATABASE churn OWNER churn;
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE dagster OWNER dagster;

-- Nobody but the owner connects to a component's database.
REVOKE ALL ON DATABASE churn FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
REVOKE ALL ON DATABASE dagster FROM PUBLIC;

-- The application schema (CHURN_DB_SCHEMA, default `churn`), owned by the app role; the
-- application creates its tables in it idempotently.
\connect churn
CREATE SCHEMA IF NOT EXISTS churn AUTHORIZATION churn;
