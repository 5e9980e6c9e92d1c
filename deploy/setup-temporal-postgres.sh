#!/bin/sh
# Create and migrate Temporal's two PostgreSQL databases (after temporalio/samples-server
# compose/scripts/setup-postgres.sh). Idempotent: safe on every `docker compose up`.
set -eu
until nc -z "$POSTGRES_SEEDS" 5432; do sleep 1; done
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  dir=temporal; [ "$db" = temporal_visibility ] && dir=visibility
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -pw "$POSTGRES_PWD" -p 5432 --db "$db" create || true
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -pw "$POSTGRES_PWD" -p 5432 --db "$db" setup-schema -v 0.0 || true
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -pw "$POSTGRES_PWD" -p 5432 --db "$db" update-schema -d "$SCHEMA_DIR/$dir/versioned"
done
