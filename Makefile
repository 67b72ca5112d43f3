# poolstorm: make targets. `make help` lists them.

CARGO ?= cargo
# Tests wait on sockets and sleeps far more than they compute.
TEST_THREADS ?= 4

.PHONY: help build demo test lint fmt clippy bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## Build both programs (debug)
	$(CARGO) build --workspace

demo: ## Show both deadlocks and their fixes on SQLite (needs only Rust)
	$(CARGO) build --workspace --release
	scripts/demo.sh target/release/target-app

test: ## Run every test; MySQL tests get a throwaway MariaDB (or POOLSTORM_MYSQL_URL)
	$(CARGO) build --workspace --tests
	scripts/with-mariadb.sh $(CARGO) test --workspace -- --test-threads=$(TEST_THREADS)

lint: fmt clippy ## cargo fmt --check and clippy -D warnings

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: ## poolstorm vs wrk vs oha on loopback (installs wrk and oha when missing)
	python3 scripts/bench.py

clean:
	$(CARGO) clean
