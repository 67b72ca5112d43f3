# The Dockerfile's build stage without a registry: the Rust toolchain of the machine that
# builds this image (copied in as `rust/`) and the extra CAs it trusts (`ca/`, for an egress
# proxy in front of crates.io), with gcc for the C parts of the dependency set (ring, SQLite),
# on the local Debian base. Crates still come from crates.io.
ARG BASE=poolstorm-local/debian:bookworm
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY ca /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
COPY rust /usr/local/rust
ENV CARGO_HOME=/usr/local/cargo PATH=/usr/local/rust/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN rustc --version && cargo --version
