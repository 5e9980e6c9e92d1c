#!/bin/sh
# One-shot job of docker-compose.yml (image temporalio/admin-tools): create Temporal's two
# PostgreSQL databases and bring their schemas to the version this server needs, after
# temporalio/samples-server compose/scripts/setup-postgres.sh.
#
# Safe on every `docker compose up`: `create` fails only because the database exists
# (reported, then ignored), `setup-schema -v 0.0` leaves an already stamped database
# alone, and `update-schema` applies only the versions newer than the stored one.
# Connection settings come from SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD.
set -eu

SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${SQL_HOST}:${SQL_PORT}"
tries=0
until nc -z "$SQL_HOST" "$SQL_PORT"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "PostgreSQL did not answer" >&2
    exit 1
  fi
  sleep 1
done

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) versions="$SCHEMA_DIR/temporal/versioned" ;;
    temporal_visibility) versions="$SCHEMA_DIR/visibility/versioned" ;;
  esac
  temporal-sql-tool --db "$db" create || echo "database $db exists; keeping it"
  temporal-sql-tool --db "$db" setup-schema -v 0.0
  temporal-sql-tool --db "$db" update-schema -d "$versions"
done
echo "Temporal schemas are up to date"
