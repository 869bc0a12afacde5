# roomcore: multi-stage release build, non-root runtime.
#
# The container runtime must allow io_uring (seccomp: io_uring_setup, io_uring_enter,
# io_uring_register; Docker's default profile blocks them) and a memlock limit for the
# rings, e.g.:
#   docker run --security-opt seccomp=unconfined --ulimit memlock=8388608:8388608 \
#              --stop-timeout 20 -p 8080:8080 -v roomcore-data:/var/lib/roomcore/data roomcore
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p roomcore

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/roomcore --create-home roomcore \
 && mkdir -p /var/lib/roomcore/data \
 && chown -R roomcore:roomcore /var/lib/roomcore
COPY --from=build /src/target/release/roomcore /usr/local/bin/roomcore
USER roomcore
WORKDIR /var/lib/roomcore
ENV LISTEN_ADDR=0.0.0.0:8080 \
    DATA_DIR=/var/lib/roomcore/data \
    LOG_FORMAT=json \
    SHUTDOWN_DRAIN_SECS=15
EXPOSE 8080
VOLUME ["/var/lib/roomcore/data"]
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/live || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/roomcore"]
