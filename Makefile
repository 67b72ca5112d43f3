# poolstorm: make targets. `make help` lists them.

CARGO ?= cargo
# Tests wait on sockets and sleeps far more than they compute.
TEST_THREADS ?= 4

.PHONY: help build release profile-build demo-build demo scenarios scenarios-mariadb local-images docker-build containers compose-up compose-run compose-down test k8s-validate lint fmt clippy cycles bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## Build both programs (debug)
	$(CARGO) build --workspace

release: ## Both programs, release build from the locked dependency set (as the Dockerfile builds them)
	$(CARGO) build --release --locked --workspace

# The demo needs no container backend (testcontainers and bollard, about a third of a cold
# build's CPU): built without it and without debug info, a cold build takes 4 min 36 s on 2
# cores instead of 7 min 11 s (README). `make release` adds the backend.
demo-build:
	$(CARGO) build --release --locked --workspace --no-default-features

demo: demo-build ## Both deadlocks and their fixes on SQLite, ending with the comparison tables (needs only Rust)
	target/release/poolstorm run --quick scenarios/mode1-threadpool.toml scenarios/mode2-sequence.toml

# The integration tests that need outside parts (MariaDB, Docker, Java, Chromium, nginx, tmux,
# Python) are behind these features; plain `cargo test` runs the ones that need only Rust.
TEST_FEATURES ?= --features harness/interop,target-app/interop

# Which build `make scenarios` uses: release (default), or debug (what `make test` already built).
PROFILE ?= release
profile-build:
	$(CARGO) build --locked --workspace $(if $(filter release,$(PROFILE)),--release,--tests $(TEST_FEATURES))

scenarios: profile-build ## The CI scenario set, --quick, on DB (default sqlite; or mariadb-local, postgres-local, a mysql:// or postgres:// URL)
	POOLSTORM_BIN=target/$(PROFILE) scripts/scenarios.sh $(or $(DB),sqlite)

scenarios-mariadb: profile-build ## The CI scenario set on a throwaway MariaDB (or POOLSTORM_MYSQL_URL)
	POOLSTORM_BIN=target/$(PROFILE) scripts/with-mariadb.sh sh -c 'scripts/scenarios.sh "$$POOLSTORM_MYSQL_URL"'

# The container backend's tests run these images (scripts/local-images.sh builds them); set
# POOLSTORM_MYSQL_IMAGE=mysql:8.4 or POOLSTORM_POSTGRES_IMAGE=postgres:16 to test against the
# registry's.
TEST_MYSQL_IMAGE ?= $(or $(POOLSTORM_MYSQL_IMAGE),poolstorm-local/mariadb:10.11)
TEST_POSTGRES_IMAGE ?= $(or $(POOLSTORM_POSTGRES_IMAGE),poolstorm-local/postgres:15)

test: ## Run every test, both tiers; installs what they need as root (Docker engine, local images), else names it
	scripts/test-deps.sh
	$(CARGO) build --workspace --tests $(TEST_FEATURES)
	POOLSTORM_MYSQL_IMAGE=$(TEST_MYSQL_IMAGE) POOLSTORM_POSTGRES_IMAGE=$(TEST_POSTGRES_IMAGE) scripts/with-mariadb.sh scripts/with-postgres.sh $(CARGO) test --workspace $(TEST_FEATURES) -- --test-threads=$(TEST_THREADS)

k8s-validate: ## Validate deploy/k8s against Kubernetes' own schemas, offline (kubernetes-validate from PyPI, in tools/.venv)
	scripts/venv.sh tools
	tools/.venv/bin/kubernetes-validate --strict deploy/k8s/*.yaml

lint: fmt clippy cycles ## cargo fmt --check, clippy -D warnings (both test tiers), no import cycle, each layer names only what its row allows

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets $(TEST_FEATURES) -- -D warnings

cycles:
	python3 scripts/module-cycles.py --self-test
	python3 scripts/module-cycles.py

# Compose v2 (`docker compose`) where it is installed, else docker-compose 1.x.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
SCENARIO ?= scenarios/mode2-sweep.toml

# LOCAL_IMAGES=1: the images scripts/local-images.sh builds from Debian's packages stand in for
# the registry's (mysql:8.4 and mariadb:11 by MariaDB 10.11, the Rust and Debian bases by local
# ones); each variable can also be set alone.
ifeq ($(LOCAL_IMAGES),1)
export POOLSTORM_MYSQL_IMAGE ?= poolstorm-local/mariadb:10.11
export POOLSTORM_MARIADB_IMAGE ?= poolstorm-local/mariadb:10.11
export POOLSTORM_POSTGRES_IMAGE ?= poolstorm-local/postgres:15
export POOLSTORM_BUILDER_IMAGE ?= poolstorm-local/rust:1.95
export POOLSTORM_RUNTIME_IMAGE ?= poolstorm-local/debian:bookworm
endif

local-images: ## Build the stand-in images from Debian's packages (starts dockerd as root if none answers)
	scripts/local-images.sh

docker-build: ## docker build . as poolstorm:local (LOCAL_IMAGES=1: from the local images)
	docker build --network host --force-rm -t poolstorm:local \
	  --build-arg BUILDER=$${POOLSTORM_BUILDER_IMAGE:-rust:1.95-slim-bookworm} \
	  --build-arg RUNTIME=$${POOLSTORM_RUNTIME_IMAGE:-debian:bookworm-slim} .

containers: ## Every container path for real: image, --db container, compose (LOCAL_IMAGES=1 without a registry)
	scripts/containers.sh

compose-up: ## MySQL 8.4 and target-app on :8080 in containers (needs Docker); returns once MySQL is healthy
	$(COMPOSE) up --build --detach mysql target-app

compose-run: ## Run SCENARIO in containers on MySQL (DB=mariadb: MariaDB 11, DB=postgres: PostgreSQL 16; ARGS: more flags); results in ./results
	mkdir -p results
	SCENARIO=$(SCENARIO) POOLSTORM_ARGS='$(ARGS)' POOLSTORM_UID=$$(id -u) POOLSTORM_GID=$$(id -g) $(COMPOSE) $(if $(filter mariadb postgres,$(DB)),--profile $(DB) run --rm harness-$(DB),run --rm harness)

compose-down: ## Stop and remove the containers
	$(COMPOSE) --profile run --profile mariadb --profile postgres down --remove-orphans

bench: ## poolstorm vs wrk vs oha on loopback (installs wrk and oha when missing)
	python3 scripts/bench.py

clean:
	$(CARGO) clean
