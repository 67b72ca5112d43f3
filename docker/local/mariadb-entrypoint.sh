#!/bin/sh
# First start: a fresh datadir, root's password (or none, when allowed) for connections from
# anywhere, and the database asked for; then the server in the foreground.
set -eu
password=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
empty=${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-${MYSQL_ALLOW_EMPTY_PASSWORD:-}}
database=${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}
if [ -z "$password" ] && [ -z "$empty" ]; then
  echo "set MYSQL_ROOT_PASSWORD (or MYSQL_ALLOW_EMPTY_PASSWORD=yes)" >&2
  exit 1
fi
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
  init=/run/mysqld/init.sql
  {
    echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$password';"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$password';"
    [ -n "$database" ] && echo "CREATE DATABASE IF NOT EXISTS \`$database\`;"
  } > "$init"
  chown mysql "$init"
  set -- "$@" --init-file="$init"
fi
exec "$@" --user=mysql --bind-address=0.0.0.0 --skip-name-resolve --max-connections=2000
