# Multi-stage build: the wasm site and the server in a Rust image, then a small runtime
# image that runs as a non-root user on a read-only root filesystem.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-unknown-unknown
COPY Cargo.toml Cargo.lock ./
RUN cargo install wasm-bindgen-cli --version "=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
COPY . .
ENV SQLX_OFFLINE=true
RUN bash scripts/build-site && cargo build --release -p berth

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent berth \
    && printf '#!/bin/sh\nexec curl -fsS http://127.0.0.1:3000/readyz >/dev/null\n' > /usr/local/bin/berth-healthcheck \
    && chmod +x /usr/local/bin/berth-healthcheck
COPY --from=build /src/target/release/berth /usr/local/bin/berth
COPY --from=build /src/target/site /srv/berth/site
ENV BERTH_SITE_ROOT=/srv/berth/site
USER 10001
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["serve"]
