# Lifeboat as a sidecar container: Node 24, PostgreSQL client tools, the built CLI.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client ca-certificates tini \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY docs ./docs
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/lifeboat && chmod +x /app/dist/src/cli/main.js
USER node
ENV LIFEBOAT_CONFIG=/etc/lifeboat/lifeboat.yaml
ENTRYPOINT ["/usr/bin/tini", "--", "lifeboat"]
CMD ["--help"]
