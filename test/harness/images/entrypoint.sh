#!/bin/sh
# Entry point of the test images that scripts/install-test-servers.sh builds from Debian packages when the
# official images cannot be pulled. It keeps the interface of the official postgres, minio/minio and neo4j
# images that the tests and Lifeboat rely on: the same commands, environment variables, ports and data paths
# (and the compose example's: POSTGRES_PASSWORD_FILE, POSTGRES_DB, `server /data`, prometheus's flags).
set -eu
export NEO4J_HOME="${NEO4J_HOME:-/var/lib/neo4j}"

neo4j_conf() {
  # As the official neo4j image: NEO4J_dbms_memory_heap_max__size=1g -> dbms.memory.heap.max_size=1g.
  conf="$NEO4J_HOME/conf/neo4j.conf"
  {
    echo "server.directories.data=/data"
    echo "server.directories.logs=/logs"
    echo "server.default_listen_address=0.0.0.0"
    echo "server.http.enabled=false"
    echo "server.https.enabled=false"
    echo "dbms.usage_report.enabled=false"
    env | grep '^NEO4J_' | grep -v -E '^NEO4J_(AUTH|HOME|CONF|EDITION|ACCEPT_LICENSE_AGREEMENT)=' |
      sed -e 's/^NEO4J_//' | while IFS='=' read -r key value; do
        printf '%s=%s\n' "$(printf '%s' "$key" | sed -e 's/__/\x01/g' -e 's/_/./g' -e 's/\x01/_/g')" "$value"
      done
  } > "$conf"
  mkdir -p /data /logs
}

neo4j_java() {
  exec java --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
    ${JAVA_MEMORY:--Xmx512m} -cp "$NEO4J_HOME/lib/*" "$@"
}

case "${1:-}" in
  postgres)
    export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
    user="${POSTGRES_USER:-postgres}"
    as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"; fi
      : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required}"
      mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
      printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
      $as_postgres /usr/lib/postgresql/15/bin/initdb -D "$PGDATA" \
        -U "$user" --pwfile=/tmp/pwfile --auth=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
      rm -f /tmp/pwfile
      echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
      db="${POSTGRES_DB:-$user}"
      if [ "$db" != postgres ]; then
        printf 'CREATE DATABASE "%s"\n' "$db" | $as_postgres /usr/lib/postgresql/15/bin/postgres --single -D "$PGDATA" postgres >/dev/null
      fi
    fi
    # pg_isready and psql inside the container look in Debian's default socket folder.
    mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
    shift
    exec $as_postgres /usr/lib/postgresql/15/bin/postgres \
      -c listen_addresses='*' -c unix_socket_directories=/tmp,/var/run/postgresql "$@"
    ;;
  minio)
    shift
    exec /usr/local/bin/minio "$@"
    ;;
  server)
    # The official minio/minio image runs `minio "$@"`: compose files give `command: ["server", "/data"]`.
    exec /usr/local/bin/minio "$@"
    ;;
  prometheus)
    shift
    exec /usr/local/bin/prometheus "$@"
    ;;
  --*)
    # The official prom/prometheus image's entry point is prometheus itself: its arguments are flags.
    exec /usr/local/bin/prometheus "$@"
    ;;
  neo4j)
    neo4j_conf
    case "${NEO4J_AUTH:-}" in
      none) echo "dbms.security.auth_enabled=false" >> "$NEO4J_HOME/conf/neo4j.conf" ;;
      neo4j/*) (JAVA_MEMORY=-Xmx256m neo4j_java org.neo4j.cli.AdminTool dbms set-initial-password "${NEO4J_AUTH#neo4j/}") >/dev/null || true ;;
    esac
    neo4j_java org.neo4j.server.CommunityEntryPoint --home-dir="$NEO4J_HOME" --config-dir="$NEO4J_HOME/conf" --console-mode
    ;;
  neo4j-admin)
    neo4j_conf
    shift
    neo4j_java org.neo4j.cli.AdminTool "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
