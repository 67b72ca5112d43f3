# poolstorm and target-app, built in release mode from the locked dependency set (the same
# `cargo build` the Makefile's release target runs), shipped in a small Debian image that
# runs as an unprivileged user with the scenarios beside them. docker-compose.yml uses it.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY harness harness
COPY target-app target-app
RUN cargo build --release --locked --workspace \
 && install -D -m 0755 target/release/poolstorm target/release/target-app -t /out

FROM debian:bookworm-slim
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
