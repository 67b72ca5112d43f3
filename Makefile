# poolstorm: make targets. `make help` lists them.

CARGO ?= cargo
# Tests wait on sockets and sleeps far more than they compute.
TEST_THREADS ?= 4

.PHONY: help build release profile-build demo scenarios scenarios-mariadb compose-up compose-run compose-down test lint fmt clippy cycles bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## Build both programs (debug)
	$(CARGO) build --workspace

release: ## Both programs, release build from the locked dependency set (as the Dockerfile builds them)
	$(CARGO) build --release --locked --workspace

demo: release ## Both deadlocks and their fixes on SQLite, ending with the comparison tables (needs only Rust)
	target/release/poolstorm run --quick scenarios/mode1-threadpool.toml scenarios/mode2-sequence.toml

# Which build `make scenarios` uses: release (default), or debug (what `make test` already built).
PROFILE ?= release
profile-build:
	$(CARGO) build --locked --workspace $(if $(filter release,$(PROFILE)),--release)

scenarios: profile-build ## The CI scenario set, --quick, on DB (default sqlite; or mariadb-local, or a mysql:// URL)
	POOLSTORM_BIN=target/$(PROFILE) scripts/scenarios.sh $(or $(DB),sqlite)

scenarios-mariadb: profile-build ## The CI scenario set on a throwaway MariaDB (or POOLSTORM_MYSQL_URL)
	POOLSTORM_BIN=target/$(PROFILE) scripts/with-mariadb.sh sh -c 'scripts/scenarios.sh "$$POOLSTORM_MYSQL_URL"'

test: ## Run every test; installs what they need as root, else names it; MySQL tests get a throwaway MariaDB
	scripts/test-deps.sh
	$(CARGO) build --workspace --tests
	scripts/with-mariadb.sh $(CARGO) test --workspace -- --test-threads=$(TEST_THREADS)

lint: fmt clippy cycles ## cargo fmt --check, clippy -D warnings, and no import cycle between modules

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

cycles:
	python3 scripts/module-cycles.py --self-test
	python3 scripts/module-cycles.py

COMPOSE ?= docker compose
SCENARIO ?= scenarios/mode2-sweep.toml

compose-up: ## MySQL 8.4 and target-app on :8080 in containers (needs Docker)
	$(COMPOSE) up --build --detach --wait mysql target-app

compose-run: ## Run SCENARIO in containers on MySQL (DB=mariadb: MariaDB 11; ARGS: more flags); results in ./results
	mkdir -p results
	SCENARIO=$(SCENARIO) POOLSTORM_ARGS='$(ARGS)' $(COMPOSE) $(if $(filter mariadb,$(DB)),--profile mariadb run --rm harness-mariadb,run --rm harness)

compose-down: ## Stop and remove the containers
	$(COMPOSE) --profile run --profile mariadb down --remove-orphans

bench: ## poolstorm vs wrk vs oha on loopback (installs wrk and oha when missing)
	python3 scripts/bench.py

clean:
	$(CARGO) clean
