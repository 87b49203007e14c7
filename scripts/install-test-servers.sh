#!/usr/bin/env bash
# Installs what the test suite needs, once (it runs before every `npm test` and returns at once when all is
# there): PostgreSQL (server and client tools) and Chromium from Debian, MinIO built from its Go module at a
# pinned revision, and Neo4j assembled from Maven Central, into a cache folder.
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}"

missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${LIFEBOAT_PG_BINDIR:-}" ]; then missing+=(postgresql); fi
if ! command -v pg_dump >/dev/null; then missing+=(postgresql-client); fi
if [ ! -x "${LIFEBOAT_CHROMIUM:-/usr/bin/chromium}" ]; then missing+=(chromium); fi
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "install-test-servers: missing ${missing[*]}, and no apt-get here: install them, or set" \
      "LIFEBOAT_PG_BINDIR / LIFEBOAT_CHROMIUM (see README, Tests)" >&2
    exit 1
  fi
  echo "install-test-servers: installing ${missing[*]} from Debian"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

MINIO_BIN="$CACHE/minio/$MINIO_VERSION/minio"
if [ -z "${LIFEBOAT_MINIO_BIN:-}" ] && [ ! -x "$MINIO_BIN" ]; then
  if ! command -v go >/dev/null; then
    echo "install-test-servers: MinIO is built with Go, which is not installed (or set LIFEBOAT_MINIO_BIN)" >&2
    exit 1
  fi
  echo "install-test-servers: building MinIO $MINIO_VERSION (a few minutes, once)"
  mkdir -p "$CACHE/minio/$MINIO_VERSION"
  GOBIN="$CACHE/minio/$MINIO_VERSION" CGO_ENABLED=0 go install "github.com/minio/minio@$MINIO_VERSION"
fi
if [ -z "${LIFEBOAT_MINIO_BIN:-}" ]; then
  mkdir -p "$CACHE/minio/bin"
  ln -sf "$MINIO_BIN" "$CACHE/minio/bin/minio"
fi

# Neo4j 5.26 LTS (runs on Java 17): server and neo4j-admin assembled from Maven Central into a cache folder.
NEO4J_VERSION="${NEO4J_VERSION:-5.26.30}"
NEO4J_LIB="$CACHE/neo4j/$NEO4J_VERSION/lib"
if [ -z "${LIFEBOAT_NEO4J_LIB:-}" ] && [ ! -f "$NEO4J_LIB/neo4j-$NEO4J_VERSION.jar" ]; then
  for tool in java mvn; do
    if ! command -v "$tool" >/dev/null; then
      echo "install-test-servers: Neo4j needs $tool (Java 17 and Maven), which is not installed" >&2
      exit 1
    fi
  done
  echo "install-test-servers: assembling Neo4j $NEO4J_VERSION from Maven Central (once)"
  rm -rf "$NEO4J_LIB.partial"
  mvn -q -B -f "$(dirname "$0")/../test/harness/neo4j/pom.xml" -Dneo4j.version="$NEO4J_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$NEO4J_LIB.partial"
  rm -rf "$NEO4J_LIB" && mv "$NEO4J_LIB.partial" "$NEO4J_LIB"
fi
