# syntax=docker/dockerfile:1
# Build: docker build -t personio-productive-sync .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when the manifest or lock file changes.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches tests/integration \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && echo 'fn main() {}' > benches/sync.rs && touch tests/integration/main.rs \
 && cargo build --release --locked --bin personio-productive-sync \
 && rm -rf src benches tests
COPY src ./src
COPY migrations ./migrations
COPY config ./config
COPY benches ./benches
COPY tests ./tests
# Queries are checked at run time, so no offline sqlx data is needed; migrations are embedded.
RUN touch src/lib.rs src/main.rs && cargo build --release --locked --bin personio-productive-sync

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home app
COPY --from=build /src/target/release/personio-productive-sync /usr/local/bin/personio-productive-sync
USER app
WORKDIR /data
# The embedded SQLite default lives here unless PPS__DATABASE__URL points at PostgreSQL.
VOLUME ["/data"]
ENV PPS__LOG__FORMAT=json
# Health, metrics and status for the host and Prometheus; set PPS__HTTP__TOKEN(_FILE) too.
ENV PPS__HTTP__LISTEN=0.0.0.0:9464
EXPOSE 9464
# Two malloc arenas are plenty for a mostly idle daemon and keep its resident memory down.
ENV MALLOC_ARENA_MAX=2
# `healthcheck` asks the listener's /livez.
HEALTHCHECK --interval=1m --timeout=10s --start-period=1m --retries=3 \
  CMD ["personio-productive-sync", "healthcheck"]
ENTRYPOINT ["personio-productive-sync"]
CMD ["run"]
