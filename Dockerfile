# syntax=docker/dockerfile:1
# payguard container image. Build: docker build -t payguard:0.1.0 .
# Runs as uid 10001 with a read-only root filesystem; the only writable path is the data
# volume (/var/lib/payguard: the SQLite store and the journal). No secrets are baked in:
# Redis password and store key come from the environment.

# ---- build: dev dependencies, TypeScript → dist/, then production dependencies only ----
FROM node:24-slim AS build
# better-sqlite3 compiles its native module here (no prebuilt download): the runtime stage
# gets the compiled node_modules and needs no compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: dist/, config/, package files and production dependencies only ----
FROM node:24-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="payguard" \
      org.opencontainers.image.description="Transparent reverse proxy for payment gateways: idempotency, safe retries, circuit breakers." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/node:24-slim"
ENV NODE_ENV=production \
    PAYGUARD_CONFIG=/etc/payguard/payguard.yaml \
    PAYGUARD_STORE_PATH=/var/lib/payguard/payguard.db
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
# Default config (reads PAYGUARD_* env vars); the Helm chart mounts its ConfigMap over /etc/payguard.
COPY config/payguard.yaml /etc/payguard/payguard.yaml
# The SQLite store (the default) and the journal of answers not yet written back to a shared
# store: the only path payguard writes to.
RUN mkdir -p /var/lib/payguard/journal && chown -R 10001:10001 /var/lib/payguard
VOLUME ["/var/lib/payguard"]
USER 10001:10001
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and receives SIGTERM directly. No init (tini / --init) is needed:
# payguard installs its own SIGTERM/SIGINT handlers (readiness → delay → drain → exit 0), so
# the PID 1 rule "signals without a handler are ignored" does not apply, and it starts no
# child processes, so there are no zombies to reap.
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
