#!/usr/bin/env bash
# Runs once, as postgres, when the official image initialises an empty primary: the roles
# (passwords from the compose secrets) and the replica's entry in pg_hba.conf.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$(< /run/secrets/owner_password)" \
    -v web_password="$(< /run/secrets/web_password)" \
    -v replicator_password="$(< /run/secrets/replicator_password)" \
    -f /thidua-postgres/roles.sql
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
