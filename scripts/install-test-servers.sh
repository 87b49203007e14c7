#!/usr/bin/env bash
# Installs what the test suite needs, once (it runs before every `npm test` and returns at once when all is
# there): PostgreSQL (server and client tools), Chromium and a Docker engine from Debian, MinIO built from its
# Go module at a pinned revision, Neo4j assembled from Maven Central, and the test images' root file system,
# into a cache folder.
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}"

missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${LIFEBOAT_PG_BINDIR:-}" ]; then missing+=(postgresql); fi
if ! command -v pg_dump >/dev/null; then missing+=(postgresql-client); fi
if [ ! -x "${LIFEBOAT_CHROMIUM:-/usr/bin/chromium}" ]; then missing+=(chromium); fi
# A Docker engine (the harness starts one when none answers) and debootstrap (for the test images, below).
if ! command -v dockerd >/dev/null && [ -z "${DOCKER_HOST:-}" ]; then missing+=(docker.io); fi
if ! command -v debootstrap >/dev/null; then missing+=(debootstrap); fi
# openssl makes the certificate of the metrics TLS test; age (the reference tool) makes keys and checks that
# backups open without Lifeboat.
if ! command -v openssl >/dev/null; then missing+=(openssl); fi
if ! command -v age >/dev/null; then missing+=(age); fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "install-test-servers: missing ${missing[*]}, and no apt-get here: install them, or set" \
      "LIFEBOAT_PG_BINDIR / LIFEBOAT_CHROMIUM / DOCKER_HOST (see README, Tests)" >&2
    exit 1
  fi
  echo "install-test-servers: installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Builds a Go command from its module at a pinned version into the cache, once, and links it as
# $CACHE/<name>/bin/<name>; an override variable (a binary of one's own) skips both.
go_tool() {
  local name="$1" module="$2" version="$3" override="$4" what="$5"
  local bin="$CACHE/$name/$version/$name"
  if [ -n "$override" ]; then return; fi
  if [ ! -x "$bin" ]; then
    if ! command -v go >/dev/null; then
      echo "install-test-servers: $name is built with Go, which is not installed" >&2
      exit 1
    fi
    echo "install-test-servers: building $name $version ($what, once)"
    mkdir -p "$CACHE/$name/$version"
    GOBIN="$CACHE/$name/$version" CGO_ENABLED=0 go install "$module@$version"
  fi
  mkdir -p "$CACHE/$name/bin"
  ln -sf "$bin" "$CACHE/$name/bin/$name"
}
MINIO_BIN="$CACHE/minio/$MINIO_VERSION/minio"
go_tool minio github.com/minio/minio "$MINIO_VERSION" "${LIFEBOAT_MINIO_BIN:-}" "a few minutes"
# mc, MinIO's client, for the least-privilege tests: users and policies through MinIO's admin API.
MC_VERSION="${MC_VERSION:-v0.0.0-20250313080218-cf909e1063a9}"
go_tool mc github.com/minio/mc "$MC_VERSION" "${LIFEBOAT_MC_BIN:-}" "a minute or two"

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

# A Docker engine and the test images. The harness starts its own engine (dockerd on a private socket) when
# none answers, and runs the containers path of its fixtures (testcontainers) and the Neo4j `access: docker`
# tests on it. The images are built here from Debian packages, so no registry is needed: one root file system
# with PostgreSQL 15, Java 17, the Neo4j jars above, MinIO and an entry point with the official images'
# interface (test/harness/images/entrypoint.sh).
IMAGES="$CACHE/images"
ENTRYPOINT="$(dirname "$0")/../test/harness/images/entrypoint.sh"
IMAGE_KEY="$( (cat "$ENTRYPOINT"; echo "$MINIO_VERSION $NEO4J_VERSION bookworm postgresql-15 openjdk-17-jre-headless") \
  | sha256sum | cut -c1-12)"
ROOTFS="$IMAGES/rootfs-$IMAGE_KEY.tar"
if [ ! -f "$ROOTFS" ]; then
  echo "install-test-servers: building the test images' root file system from Debian (about 2 minutes, once)"
  mkdir -p "$IMAGES"
  work="$(mktemp -d "$IMAGES/build-XXXXXX")"
  root="$work/root"
  cleanup() { $sudo umount "$root/proc" 2>/dev/null || true; $sudo rm -rf "$work"; }
  trap cleanup EXIT
  log="$work/build.log"
  if ! { $sudo debootstrap --variant=minbase bookworm "$root" "${LIFEBOAT_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
      && $sudo mount -t proc proc "$root/proc" \
      && $sudo chroot "$root" /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends postgresql-15 openjdk-17-jre-headless &&
        apt-get clean && rm -rf /var/lib/apt/lists/*'; } >"$log" 2>&1; then
    tail -30 "$log" >&2
    echo "install-test-servers: building the test images' root file system failed (above)" >&2
    exit 1
  fi
  $sudo umount "$root/proc"
  $sudo mkdir -p "$root/var/lib/neo4j/conf" "$root/data"
  $sudo cp -r "${LIFEBOAT_NEO4J_LIB:-$NEO4J_LIB}" "$root/var/lib/neo4j/lib"
  $sudo cp "$(readlink -f "${LIFEBOAT_MINIO_BIN:-$MINIO_BIN}")" "$root/usr/local/bin/minio"
  $sudo install -m 0755 "$ENTRYPOINT" "$root/usr/local/bin/lifeboat-test-entrypoint"
  $sudo tar -C "$root" -cf "$ROOTFS.partial" .
  $sudo chown "$(id -u):$(id -g)" "$ROOTFS.partial"
  mv "$ROOTFS.partial" "$ROOTFS"
  cleanup
  trap - EXIT
  # Older root file systems of other keys are no longer used.
  find "$IMAGES" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$IMAGE_KEY.tar" -delete
fi
echo "$ROOTFS" > "$IMAGES/current"
