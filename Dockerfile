# dgram's images, built from source: echo-server, chat-server and client-cli as static
# binaries, each in an image with no base (FROM scratch).
#
#   docker compose up --build                     # or, one image:
#   docker build --target chat -t dgram/chat:local .
#
# Targets: echo, chat, client. Needs the rust image (pulled) and crates.io. Where no image can
# be pulled, Dockerfile.prebuilt builds the same runtime stages from binaries built on the
# host (docs/docker.md). Works with BuildKit and with the classic builder (no `# syntax=`, no
# RUN --mount); dependencies are cached in their own layer by cargo-chef.

ARG RUST_IMAGE=rust:1-bookworm

FROM ${RUST_IMAGE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install --locked cargo-chef --version "${CARGO_CHEF_VERSION}" \
 && rm -rf "${CARGO_HOME:-/usr/local/cargo}/registry"
WORKDIR /src

# The recipe: manifests and lock file only, so the next stage's dependency layer is rebuilt
# only when they change.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# The same flags as scripts/build-static: static glibc (>= 2.34 resolves names with no NSS
# libraries), an explicit --target so build scripts and proc macros stay dynamic.
ENV RUSTFLAGS="-C target-feature=+crt-static" DGRAM_NICE=0
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --target x86_64-unknown-linux-gnu --recipe-path recipe.json
COPY . .
RUN scripts/build-static /stage

# What the runtime stages copy from, under the same name as in Dockerfile.prebuilt.
FROM builder AS binaries

# ---- runtime stages: identical in Dockerfile and Dockerfile.prebuilt (compose-smoke checks) ----
# No base image: a static binary, an empty directory owned by the service's user, nothing
# else (no shell, no libc files, no /etc/passwd, hence the numeric user). Exec-form
# ENTRYPOINT: the binary is PID 1 and gets SIGTERM itself (docker stop, compose down).

FROM scratch AS echo
COPY --from=binaries /stage/bin/echo-server /usr/local/bin/echo-server
USER 10001:10001
ENV ECHO_LISTEN=0.0.0.0:8080
EXPOSE 8080/udp
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/echo-server", "healthcheck", "--server", "127.0.0.1:8080"]
ENTRYPOINT ["/usr/local/bin/echo-server"]

FROM scratch AS chat
COPY --from=binaries /stage/bin/chat-server /usr/local/bin/chat-server
# A named volume mounted at /data starts as a copy of this directory, owner included.
COPY --from=binaries --chown=10001:10001 /stage/empty/ /data/
USER 10001:10001
ENV CHAT_LISTEN=0.0.0.0:8081 CHAT_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8081/udp
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/chat-server", "healthcheck", "--server", "127.0.0.1:8081"]
ENTRYPOINT ["/usr/local/bin/chat-server"]

FROM scratch AS client
COPY --from=binaries /stage/bin/client-cli /usr/local/bin/client-cli
# Claim keys live under $XDG_CONFIG_HOME/dgram; mount a volume at /home/dgram to keep them.
COPY --from=binaries --chown=10001:10001 /stage/empty/ /home/dgram/
USER 10001:10001
ENV HOME=/home/dgram XDG_CONFIG_HOME=/home/dgram/.config
ENTRYPOINT ["/usr/local/bin/client-cli"]
CMD ["--help"]
# ---- end of the runtime stages ----
