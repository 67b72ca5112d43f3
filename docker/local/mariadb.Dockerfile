# MariaDB from Debian's mariadb-server, for machines without an image registry. It takes the
# environment of the official mysql and mariadb images that docker-compose.yml and the
# container backend use: MYSQL_/MARIADB_ROOT_PASSWORD, MYSQL_/MARIADB_DATABASE, and
# MYSQL_ALLOW_EMPTY_PASSWORD / MARIADB_ALLOW_EMPTY_ROOT_PASSWORD.
ARG BASE=poolstorm-local/debian:bookworm
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql \
 && mkdir -p /var/lib/mysql /run/mysqld && chown mysql:mysql /var/lib/mysql /run/mysqld
COPY mariadb-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# The official image's healthcheck script name, so compose files written for it work.
RUN printf '#!/bin/sh\nexec mariadb-admin --protocol=socket ping --silent\n' > /usr/local/bin/healthcheck.sh \
 && chmod +x /usr/local/bin/healthcheck.sh /usr/local/bin/docker-entrypoint.sh
HEALTHCHECK --interval=1s --timeout=5s --retries=120 CMD ["healthcheck.sh"]
EXPOSE 3306
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["mariadbd"]
