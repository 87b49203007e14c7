#!/usr/bin/env bash
# Installs what the integration tests need on a fresh Debian machine: PostgreSQL (server and client
# tools) from Debian, and MinIO built from its Go module at a pinned revision into a cache folder.
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v pg_dump >/dev/null; then
  echo "install-test-servers: installing PostgreSQL from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
fi
echo "install-test-servers: PostgreSQL $(ls /usr/lib/postgresql | sort -n | tail -1), $(pg_dump --version)"

MINIO_BIN="$CACHE/minio/$MINIO_VERSION/minio"
if [ ! -x "$MINIO_BIN" ]; then
  echo "install-test-servers: building MinIO $MINIO_VERSION (a few minutes, once)"
  mkdir -p "$CACHE/minio/$MINIO_VERSION"
  GOBIN="$CACHE/minio/$MINIO_VERSION" CGO_ENABLED=0 go install "github.com/minio/minio@$MINIO_VERSION"
fi
mkdir -p "$CACHE/minio/bin"
ln -sf "$MINIO_BIN" "$CACHE/minio/bin/minio"
echo "install-test-servers: MinIO at $CACHE/minio/bin/minio"
