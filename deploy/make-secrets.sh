#!/usr/bin/env bash
# Makes deploy/secrets/ for compose.yaml once: random passwords, the database URLs that
# carry them, an HS256 secret and the log's signing key (made by the image itself, so build
# it first: docker compose -f deploy/compose.yaml build). Existing files are kept.
# The folder is 0700; the files 0644, because compose mounts them as they are and the
# containers read them as their own users (postgres, uid 10001).
set -euo pipefail
cd "$(dirname "$0")/secrets"
chmod 0700 .
origin=${THIDUA_LOG_ORIGIN:-thidua.example.vn}
image=${THIDUA_IMAGE:-thidua:local}

keep() {  # keep NAME COMMAND...: writes NAME from the command's output unless it exists
    local name=$1; shift
    [ -s "$name" ] || { "$@" > "$name.new" && mv "$name.new" "$name"; }
    chmod 0644 "$name"
}
password() { openssl rand -hex 24; }

for name in postgres_password owner_password web_password replicator_password; do
    keep "$name" password
done
keep jwt_secret openssl rand -base64 48
keep owner_database_url echo "postgresql://thidua_owner:$(< owner_password)@db-primary:5432/thidua"
keep app_database_url echo "postgresql://thidua_web:$(< web_password)@db-primary:5432/thidua"
keep app_replica_url echo "postgresql://thidua_web:$(< web_password)@db-replica:5432/thidua"
keep log_signing_key docker run --rm --entrypoint python "$image" -c \
    'import sys; from thidua.ledger.note import generate_key; print(generate_key(sys.argv[1])[0])' \
    "$origin"
echo "deploy/secrets/ ready (log origin $origin)."
