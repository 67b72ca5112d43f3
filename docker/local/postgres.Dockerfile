# PostgreSQL 15 from Debian's postgresql, for machines without an image registry. It takes the
# environment of the official postgres image that the container backend (container:postgres)
# and docker-compose.yml's postgres profile use: POSTGRES_PASSWORD, POSTGRES_USER,
# POSTGRES_DB and POSTGRES_HOST_AUTH_METHOD.
ARG BASE=poolstorm-local/debian:bookworm
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod +x /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
HEALTHCHECK --interval=1s --timeout=5s --retries=120 CMD ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
EXPOSE 5432
USER postgres
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
