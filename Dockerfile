# poolstorm and target-app, built in release mode from the locked dependency set (the same
# `cargo build` the Makefile's release target runs), shipped in a small Debian image that
# runs as an unprivileged user with the scenarios beside them. docker-compose.yml uses it.
#
# Without an image registry, scripts/local-images.sh builds stand-ins from Debian's packages
# and this machine's Rust toolchain: `--build-arg BUILDER=poolstorm-local/rust:1.95
# --build-arg RUNTIME=poolstorm-local/debian:bookworm` (make docker-build LOCAL_IMAGES=1).
# Crates come from crates.io, so the build needs the network (`--network host` keeps it off
# any bridge).
ARG BUILDER=rust:1.95-slim-bookworm
ARG RUNTIME=debian:bookworm-slim

FROM ${BUILDER} AS build
WORKDIR /src
# The dependency set first, against empty crates: a layer of its own that stays cached while
# the manifests and Cargo.lock do, so a change to the sources rebuilds only the workspace.
COPY Cargo.toml Cargo.lock ./
COPY contract/Cargo.toml contract/
COPY harness/Cargo.toml harness/
COPY target-app/Cargo.toml target-app/
RUN for crate in contract harness target-app; do \
      mkdir -p $crate/src $crate/tests/it && touch $crate/src/lib.rs $crate/tests/it/main.rs; \
      [ $crate = contract ] || echo 'fn main() {}' > $crate/src/main.rs; \
    done \
 && cargo build --release --locked --workspace \
 && rm -rf contract/src harness/src target-app/src
COPY contract contract
COPY harness harness
COPY target-app target-app
# The sources are older than the empty crates' build: make them newer, or cargo keeps that.
RUN find contract harness target-app -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --workspace \
 && install -D -m 0755 target/release/poolstorm target/release/target-app -t /out

FROM ${RUNTIME}
RUN useradd --system --uid 10001 --create-home --home-dir /poolstorm poolstorm \
 && mkdir /results && chown poolstorm /results
COPY --from=build /out/poolstorm /out/target-app /usr/local/bin/
COPY scenarios /poolstorm/scenarios
WORKDIR /poolstorm
USER poolstorm
# `poolstorm run` starts this target-app for managed scenarios.
ENV POOLSTORM_TARGET_APP=/usr/local/bin/target-app
ENTRYPOINT ["poolstorm"]
CMD ["--help"]
