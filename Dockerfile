# Lifeboat as a sidecar container.
#   docker build -t lifeboat .
#   docker run -v ./lifeboat.yaml:/etc/lifeboat/lifeboat.yaml:ro -p 9464:9464 lifeboat
# Build arguments for machines that cannot reach Docker Hub or the PostgreSQL apt repository (the test suite
# builds the image that way, see README, Tests): NODE_IMAGE, another Node 24 image on Debian bookworm (Node
# at /usr/local/bin, npm) for the build stage; DEBIAN_IMAGE, another Debian bookworm for the runtime; and
# POSTGRES_APT=debian, Debian's own PostgreSQL client (one major: 15) instead of the PostgreSQL project's
# packages of PG_MAJORS.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG DEBIAN_IMAGE=debian:bookworm-slim

# Build stage: compile TypeScript and bundle it into the `lifeboat` command as `npm run build` does
# (scripts/bundle.mjs), keep only the packages the bundle loads at run time and what they need
# (scripts/image-modules.mjs: better-sqlite3, dockerode, neo4j-driver), and drop what Node never loads:
# type declarations, source maps, docs, tests, sources beside their build, the ES-module copies of packages
# whose "node" entry is CommonJS, SQLite's C sources and the binaries of other platforms.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: better-sqlite3 loads its prebuilt binary (npm would compile it again, with build tools
# the image does not have), and nothing else at run time needs one.
RUN npm install --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.image.json ./
COPY scripts/bundle.mjs scripts/bundle-external.mjs scripts/image-modules.mjs ./scripts/
COPY src ./src
RUN npx tsc -p tsconfig.image.json && node scripts/bundle.mjs && node scripts/image-modules.mjs --remove \
  && cd node_modules \
  && find . -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' \) -delete \
  && find . -type d \( -name dist-types -o -name dist-es -o -name test -o -name tests -o -name .github \) -prune -exec rm -rf {} + \
  && rm -rf @types better-sqlite3/deps better-sqlite3/src rxjs/src rxjs/dist/esm rxjs/dist/esm5 rxjs/dist/bundles \
     neo4j-driver/lib/browser \
  && for d in $(find . -type d -name prebuilds); do \
       find "$d" -mindepth 1 -maxdepth 1 ! -name "linux-$(node -p process.arch)*" -exec rm -rf {} +; \
     done \
  && find . -type d -empty -delete

# Runtime: Debian with the build stage's Node (no npm), the PostgreSQL client tools of the current majors
# (from the PostgreSQL project's apt repository), sqlite3 for operators, and the `node` user (uid 1000) of
# the official Node images. The client tools come without Debian's version wrapper (pg_wrapper), which needs
# Perl (47 MB): their packages are unpacked and their libraries installed, and the newest major's tools are
# linked into /usr/local/bin (`pg_dump` runs the newest, which dumps every older server; set `binDir` to
# /usr/lib/postgresql/<major>/bin for another).
FROM ${DEBIAN_IMAGE}
ARG PG_MAJORS="16 17 18"
ARG POSTGRES_APT=pgdg
RUN set -eu; apt-get update; \
  apt-get install -y --no-install-recommends ca-certificates sqlite3; \
  if [ "$POSTGRES_APT" = debian ]; then \
    clients="$(apt-cache depends postgresql-client | sed -n 's/.*Depends: \(postgresql-client-[0-9]*\)$/\1/p')"; \
  else \
    apt-get install -y --no-install-recommends curl gnupg; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc \
      | gpg --dearmor -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get purge -y curl gnupg; apt-get autoremove -y; \
    clients="$(for v in $PG_MAJORS; do echo postgresql-client-$v; done)"; \
  fi; \
  cd /tmp; apt-get download $clients; \
  libraries="$(for deb in *.deb; do dpkg-deb -f "$deb" Depends; done | tr ',' '\n' \
    | sed -e 's/([^)]*)//g' -e 's/|.*//' -e 's/ //g' | grep -v -x -e postgresql-client-common -e sensible-utils | sort -u)"; \
  apt-get install -y --no-install-recommends $libraries; \
  for deb in *.deb; do dpkg-deb -x "$deb" /; done; rm -f ./*.deb; \
  newest="$(ls /usr/lib/postgresql | sort -n | tail -1)"; \
  ln -s /usr/lib/postgresql/"$newest"/bin/* /usr/local/bin/; \
  rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log /usr/share/doc/postgresql-client-*
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --home-dir /home/node --create-home --shell /bin/sh node
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/cli ./dist/cli
COPY package.json ./
COPY config ./config
COPY docs ./docs
RUN ln -s /app/dist/cli/lifeboat.js /usr/local/bin/lifeboat && chmod +x /app/dist/cli/lifeboat.js \
  && install -d -o node -g node /etc/lifeboat
# Non-root; the daemon needs no writable root filesystem (restores use /tmp: mount a tmpfs there).
USER node
ENV NODE_ENV=production \
    LIFEBOAT_CONFIG=/etc/lifeboat/lifeboat.yaml
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["lifeboat"]
CMD ["daemon"]
