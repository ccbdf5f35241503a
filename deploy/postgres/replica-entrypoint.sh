#!/usr/bin/env bash
# A streaming replica: on its first start (empty data folder) it copies the primary with
# pg_basebackup -R (which writes standby.signal and primary_conninfo), then runs as a hot
# standby through the image's own entrypoint.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    export PGPASSWORD="$(< /run/secrets/replicator_password)"
    until pg_isready --host db-primary --username replicator --dbname postgres; do sleep 1; done
    pg_basebackup --host db-primary --username replicator --pgdata "$PGDATA" \
        --wal-method=stream --write-recovery-conf --checkpoint=fast \
        --create-slot --slot="${REPLICA_SLOT:-replica_1}" --progress
    chmod 0700 "$PGDATA"
fi
exec docker-entrypoint.sh postgres
