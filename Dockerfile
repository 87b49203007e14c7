# Lifeboat as a sidecar container.
#   docker build -t lifeboat .
#   docker run -v ./lifeboat.yaml:/etc/lifeboat/lifeboat.yaml:ro -p 9464:9464 lifeboat
# Build stage: compile TypeScript, then keep production dependencies only (better-sqlite3 ships its
# Node-API binaries, so nothing native is compiled).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY bench ./bench
COPY test/harness ./test/harness
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime: Node LTS, the PostgreSQL client tools of the current majors (from the PostgreSQL project's apt
# repository; `pg_dump` runs the newest, which dumps every older server), sqlite3 for operators.
FROM node:24-bookworm-slim
ARG PG_MAJORS="16 17 18"
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates curl gnupg sqlite3 \
  && install -d /usr/share/postgresql-common/pgdg \
  && curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc \
     | gpg --dearmor -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg \
  && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
     > /etc/apt/sources.list.d/pgdg.list \
  && apt-get update \
  && apt-get install -y --no-install-recommends $(for v in $PG_MAJORS; do echo postgresql-client-$v; done) \
  && apt-get purge -y curl gnupg && apt-get autoremove -y \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY config ./config
COPY docs ./docs
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/lifeboat && chmod +x /app/dist/src/cli/main.js \
  && install -d -o node -g node /etc/lifeboat
# Non-root; the daemon needs no writable root filesystem (pg_restore --jobs uses /tmp: mount a tmpfs there).
USER node
ENV NODE_ENV=production \
    LIFEBOAT_CONFIG=/etc/lifeboat/lifeboat.yaml
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["lifeboat"]
CMD ["daemon"]
