#!/usr/bin/env bash
# Installs what the test suite needs, once (it runs before every `npm test` and returns at once when all is
# there): PostgreSQL (server and client tools), Chromium and a Docker engine from Debian, MinIO, mc,
# Prometheus and Docker Compose built from their Go modules at pinned versions, Neo4j assembled from Maven
# Central, the test images' root file system and a Node 24 base image, into a cache folder.
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
# Python's venv (Debian's python3 lacks it), for kubernetes-validate (below).
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then missing+=(python3-venv); fi
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
MC_BIN="$CACHE/mc/$MC_VERSION/mc"
# Prometheus (and promtool), for the compose example's end-to-end test: its scrape of Lifeboat and the
# shipped alert rules, in the stand-in of the prom/prometheus image.
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
go_tool prometheus github.com/prometheus/prometheus/cmd/prometheus "$PROMETHEUS_VERSION" "${LIFEBOAT_PROMETHEUS_BIN:-}" "a few minutes"
PROMETHEUS_BIN="$CACHE/prometheus/$PROMETHEUS_VERSION/prometheus"
# Docker Compose (v2's line, now v5), from its Go module: its go.mod has exclude directives, which
# `go install module@version` refuses, so it is built inside the module's own folder.
COMPOSE_VERSION="${COMPOSE_VERSION:-v5.6.0}"
COMPOSE_BIN="$CACHE/docker-compose/$COMPOSE_VERSION/docker-compose"
if [ -z "${LIFEBOAT_COMPOSE_BIN:-}" ] && [ ! -x "$COMPOSE_BIN" ]; then
  echo "install-test-servers: building docker-compose $COMPOSE_VERSION (a few minutes, once)"
  compose_src="$(go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  mkdir -p "$CACHE/docker-compose/$COMPOSE_VERSION"
  (cd "$compose_src" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" -o "$COMPOSE_BIN.partial" ./cmd)
  mv "$COMPOSE_BIN.partial" "$COMPOSE_BIN"
fi
mkdir -p "$CACHE/docker-compose/bin"
ln -sf "${LIFEBOAT_COMPOSE_BIN:-$COMPOSE_BIN}" "$CACHE/docker-compose/bin/docker-compose"

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

# kubernetes-validate (PyPI), for the test of the Kubernetes manifests: the Kubernetes API's own schemas,
# strict (an unknown field is an error), in a virtual environment of its own.
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
KV="$CACHE/kubernetes-validate/$KUBERNETES_VALIDATE_VERSION"
if [ -z "${LIFEBOAT_KUBERNETES_VALIDATE:-}" ] && [ ! -f "$KV/.installed" ]; then
  echo "install-test-servers: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI (once)"
  rm -rf "$KV"
  python3 -m venv "$KV"
  "$KV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  touch "$KV/.installed"
fi
mkdir -p "$CACHE/kubernetes-validate/bin"
ln -sf "${LIFEBOAT_KUBERNETES_VALIDATE:-$KV/bin/kubernetes-validate}" "$CACHE/kubernetes-validate/bin/kubernetes-validate"

# A Docker engine and the test images. The harness starts its own engine (dockerd on a private socket) when
# none answers, and runs the containers path of its fixtures (testcontainers) and the Neo4j `access: docker`
# tests on it. The images are built here from Debian packages, so no registry is needed: one root file system
# with PostgreSQL 15, Java 17, the Neo4j jars above, MinIO, mc, Prometheus and an entry point with the
# official images' interface (test/harness/images/entrypoint.sh).
IMAGES="$CACHE/images"
ENTRYPOINT="$(dirname "$0")/../test/harness/images/entrypoint.sh"
IMAGE_KEY="$( (cat "$ENTRYPOINT"; echo "$MINIO_VERSION $MC_VERSION $PROMETHEUS_VERSION $NEO4J_VERSION bookworm postgresql-15 openjdk-17-jre-headless") \
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
  $sudo cp "$(readlink -f "${LIFEBOAT_MC_BIN:-$MC_BIN}")" "$root/usr/local/bin/mc"
  $sudo cp "$(readlink -f "${LIFEBOAT_PROMETHEUS_BIN:-$PROMETHEUS_BIN}")" "$root/usr/local/bin/prometheus"
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

# Stand-ins for the official debian:bookworm-slim and node:24-bookworm-slim images, to build the Lifeboat
# image where Docker Hub cannot be reached (build arguments DEBIAN_IMAGE and NODE_IMAGE): Debian bookworm
# (minbase, with the official slim images' dpkg excludes); and the same with the Node 24 of the npm
# registry's `node` package (the one npm installed into node_modules) and npm from the npm registry: what
# the Dockerfile relies on in the official images.
NODE_BIN="$(readlink -f "$(dirname "$0")/../node_modules/node/bin/node")"
if [ ! -x "$NODE_BIN" ]; then
  echo "install-test-servers: no Node in node_modules/node (run npm install first)" >&2
  exit 1
fi
NPM_VERSION="${NPM_VERSION:-11.21.2}"
# This machine's trusted certificates go into the Node one too (NODE_EXTRA_CA_CERTS, set by the harness):
# where a proxy re-signs TLS, as here, `npm install` in the image build needs them, as it would in a
# company's own base image.
HOST_CA="${LIFEBOAT_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}"
NODE_KEY="$( (echo "$("$NODE_BIN" --version) npm-$NPM_VERSION bookworm minbase 2"; cat "$HOST_CA" 2>/dev/null || true) \
  | sha256sum | cut -c1-12)"
NODE_ROOTFS="$IMAGES/node-$NODE_KEY.tar"
DEBIAN_ROOTFS="$IMAGES/debian-$NODE_KEY.tar"
if [ ! -f "$NODE_ROOTFS" ] || [ ! -f "$DEBIAN_ROOTFS" ]; then
  echo "install-test-servers: building the Debian and Node 24 base images from Debian packages (a minute, once)"
  work="$(mktemp -d "$IMAGES/build-XXXXXX")"
  root="$work/root"
  cleanup() { $sudo rm -rf "$work"; }
  trap cleanup EXIT
  log="$work/build.log"
  if ! { $sudo debootstrap --variant=minbase bookworm "$root" "${LIFEBOAT_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
      && (cd "$work" && npm pack --silent "npm@$NPM_VERSION"); } >"$log" 2>&1; then
    tail -30 "$log" >&2
    echo "install-test-servers: building the base images' root file systems failed (above)" >&2
    exit 1
  fi
  $sudo mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' | $sudo tee "$root/etc/dpkg/dpkg.cfg.d/docker" >/dev/null
  $sudo find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  $sudo rm -rf "$root/usr/share/man"/* "$root/usr/share/info"/* "$root/usr/share/locale"/* "$root/var/lib/apt/lists"/* \
    "$root/var/cache/apt"/*.bin "$root/var/cache/apt/archives"/*.deb "$root/var/log"/*.log
  $sudo tar -C "$root" -cf "$DEBIAN_ROOTFS.partial" .
  $sudo mkdir -p "$root/usr/local/lib/node_modules/npm" "$root/etc/ssl"
  $sudo install -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
  if [ -f "$HOST_CA" ]; then $sudo install -m 0644 "$HOST_CA" "$root/etc/ssl/host-ca-certificates.crt"; fi
  $sudo tar -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$work/npm-$NPM_VERSION.tgz"
  $sudo ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  $sudo ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  $sudo tar -C "$root" -cf "$NODE_ROOTFS.partial" .
  $sudo chown "$(id -u):$(id -g)" "$NODE_ROOTFS.partial" "$DEBIAN_ROOTFS.partial"
  mv "$DEBIAN_ROOTFS.partial" "$DEBIAN_ROOTFS"
  mv "$NODE_ROOTFS.partial" "$NODE_ROOTFS"
  cleanup
  trap - EXIT
  find "$IMAGES" -maxdepth 1 \( -name 'node-*.tar' -o -name 'debian-*.tar' \) \
    ! -name "node-$NODE_KEY.tar" ! -name "debian-$NODE_KEY.tar" -delete
fi
echo "$NODE_ROOTFS" > "$IMAGES/node-current"
