#!/usr/bin/env bash
# Builds, from Debian's packages only, every image the container paths need when no image
# registry is reachable, and leaves each alone once it exists (rebuilt only when its recipe
# changes):
#   poolstorm-local/debian:bookworm   debootstrap --variant=minbase bookworm, imported: the
#                                     runtime base of the Dockerfile (for debian:bookworm-slim)
#   poolstorm-local/mariadb:10.11     Debian's mariadb-server with a healthcheck (for mysql:8.4
#                                     and mariadb:11 in docker-compose.yml and --db container)
#   poolstorm-local/postgres:15       Debian's postgresql-15 with a healthcheck (for postgres:16
#                                     in docker-compose.yml and --db container:postgres)
#   poolstorm-local/rust:1.95         the Rust toolchain installed on this machine, with gcc
#                                     (for rust:1.95-slim-bookworm, the Dockerfile's build stage)
# The Docker engine must answer (scripts/docker-engine.sh starts one). Use the images with
# `make ... LOCAL_IMAGES=1`, or the variables `make local-images-env` prints.
#
# usage: scripts/local-images.sh [mariadb] [postgres] [rust]     (no argument: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=poolstorm-local/debian:bookworm
MARIADB=poolstorm-local/mariadb:10.11
POSTGRES=poolstorm-local/postgres:15
RUST=poolstorm-local/rust:1.95
RUST_VERSION=1.95

scripts/docker-engine.sh
wanted=" ${*:-mariadb postgres rust} "

# The recipe's hash, kept as a label: a changed recipe means a new image.
recipe() { cat "$@" | sha256sum | cut -c1-16; }
current() { docker image inspect --format '{{index .Config.Labels "poolstorm.recipe"}}' "$1" 2>/dev/null || true; }

# 1. The Debian base, from debootstrap.
base_recipe=$(echo "minbase bookworm $MIRROR security" | sha256sum | cut -c1-16)
if [[ "$(current "$BASE")" != "$base_recipe" ]]; then
  command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || {
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    else
      echo "local-images: needs debootstrap (sudo apt-get install debootstrap)" >&2
      exit 1
    fi
  }
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  echo "local-images: debootstrap bookworm from $MIRROR (about 30 s)" >&2
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
  # Security and point-release updates too, as the registry's Debian images have them.
  cat > "$root/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
SOURCES
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    --change "LABEL poolstorm.recipe=$base_recipe" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$BASE" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi
echo "local-images: $BASE" >&2

# 2. and 3. MariaDB and PostgreSQL from Debian's packages (layer-cached by docker build): each
# docker/local/NAME.Dockerfile with its NAME-entrypoint.sh, when NAME is wanted.
server_image() {
  local name=$1 tag=$2
  [[ "$wanted" == *" $name "* ]] || return 0
  docker build --network host --force-rm --quiet \
    --build-arg BASE="$BASE" \
    --label "poolstorm.recipe=$(recipe "docker/local/$name.Dockerfile" "docker/local/$name-entrypoint.sh")" \
    -f "docker/local/$name.Dockerfile" -t "$tag" docker/local >/dev/null
  echo "local-images: $tag" >&2
}
server_image mariadb "$MARIADB"
server_image postgres "$POSTGRES"
[[ "$wanted" == *" rust "* ]] || exit 0

# 4. The Rust builder: this machine's toolchain (relocatable: rustc finds its sysroot beside
# it), without its documentation, on the Debian base with gcc.
toolchain=$(rustc --print sysroot)
have=$(rustc --version | awk '{print $2}')
[[ "$have" == "$RUST_VERSION"* ]] || {
  echo "local-images: the builder image needs Rust $RUST_VERSION; this machine has $have" >&2
  exit 1
}
base_id=$(docker image inspect --format '{{.Id}}' "$BASE")
# This machine's own extra CAs (an egress proxy's, say) go in too, so that cargo in the image
# reaches crates.io the way cargo here does.
cas=(/usr/local/share/ca-certificates/*.crt)
[[ -e "${cas[0]}" ]] || cas=()
rust_recipe=$(echo "$have $base_id $(recipe docker/local/rust.Dockerfile "${cas[@]}")" | sha256sum | cut -c1-16)
if [[ "$(current "$RUST")" != "$rust_recipe" ]]; then
  context=$(mktemp -d)
  trap 'rm -rf "$context"' EXIT
  mkdir "$context/rust"
  cp -a "$toolchain/bin" "$toolchain/lib" "$context/rust/"
  [[ -d "$toolchain/libexec" ]] && cp -a "$toolchain/libexec" "$context/rust/"
  mkdir "$context/ca"
  ((${#cas[@]} == 0)) || cp "${cas[@]}" "$context/ca/"
  cp docker/local/rust.Dockerfile "$context/Dockerfile"
  echo "local-images: building $RUST from $toolchain (Rust $have)" >&2
  docker build --network host --force-rm --quiet --build-arg BASE="$BASE" \
    --label "poolstorm.recipe=$rust_recipe" -t "$RUST" "$context" >/dev/null
  rm -rf "$context"
  trap - EXIT
fi
echo "local-images: $RUST" >&2
