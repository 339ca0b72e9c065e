# MR Ledger developer commands. `make help` lists them; the work is in deploy/dev/*.sh.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Build outside the clone so every checkout and CI run shares one cache (respected if set).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/mrledger-target
# CI reports every failing test; locally the first failure stops the run.
NEXTEST_FLAGS ?= $(if $(CI),--no-fail-fast,)

.PHONY: help run stop logs test check fmt clippy bench bench-overhead bench-replay bench-export bench-sse services clean-test-dbs sim fuzz chaos console check-deploy drill

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

run: ## build (release), migrate, seed the demo operator, start all services, print how to use them
	@bash deploy/dev/run.sh

stop: ## stop the services make run started
	@bash deploy/dev/stop.sh

logs: ## follow the logs of the services make run started
	@bash deploy/dev/logs.sh

services: ## install/start PostgreSQL and Redis if needed (idempotent)
	@bash deploy/dev/ensure-services.sh

test: services ## what CI runs: fmt check, clippy, build, all tests but the drills (make drill)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@# System tests start the real binaries from the target dir: build them first.
	cargo build --workspace --bins
	@bash deploy/check-deploy.sh
	@# The console's browser test (tests/tests/console_e2e.rs) serves the built console.
	@bash deploy/dev/ensure-web.sh --browser
	@bash deploy/console/build.sh
	@if cargo nextest --version >/dev/null 2>&1; then \
		echo "cargo nextest run --workspace -E 'not binary(/^drill_/)' $(NEXTEST_FLAGS)"; \
		cargo nextest run --workspace -E 'not binary(/^drill_/)' $(NEXTEST_FLAGS); \
		echo "cargo test --workspace --doc"; \
		cargo test --workspace --doc; \
	else \
		echo "cargo-nextest not installed: falling back to cargo test"; \
		echo "cargo test --workspace"; \
		cargo test --workspace; \
	fi

drill: services ## the cluster drills (tests/tests/drill_*.rs: nginx + 2 command-api, projector takeover, PostgreSQL failover, replica, restore), with their figures
	@bash deploy/dev/ensure-drill-tools.sh
	cargo build --workspace --bins
	cargo nextest run -p tests -E 'binary(/^drill_/)' --no-capture $(NEXTEST_FLAGS)

chaos: services ## only the fault tests (tests/tests/chaos.rs; also part of make test), with their figures
	cargo build --workspace --bins
	cargo nextest run -p tests --test chaos --no-capture $(NEXTEST_FLAGS)

console: ## build the web console into deploy/console/dist (npm ci when the lock changed; make run serves it)
	@bash deploy/console/build.sh

check-deploy: ## validate deploy/k8s, deploy/compose and deploy/systemd (also part of make test)
	@bash deploy/check-deploy.sh

check: ## cargo check every crate and target
	cargo check --workspace --all-targets

fmt: ## format the code
	cargo fmt --all

clippy: ## lint like CI does
	cargo clippy --workspace --all-targets -- -D warnings

bench: ## run the benchmarks (deploy/bench/run.sh)
	@test -f deploy/bench/run.sh || { echo "deploy/bench/run.sh does not exist yet" >&2; exit 1; }
	@bash deploy/bench/run.sh

bench-overhead: ## authorize benchmark with vs without rate limiting and tracing, alternating rounds (deploy/bench/overhead.sh)
	@bash deploy/bench/overhead.sh

bench-replay: ## time projector rebuild and verify on a 300k-event history (deploy/bench/replay.sh)
	@bash deploy/bench/replay.sh

bench-export: ## time CSV and XLSX exports of 100k usage records and transactions (deploy/bench/export.sh)
	@bash deploy/bench/export.sh

bench-sse: ## open 5,000 idle SSE connections on one query-api and time a broadcast (deploy/bench/sse.sh)
	@bash deploy/bench/sse.sh

fuzz: ## fuzz header, session id and body parsing, FUZZ_SECONDS (default 20) per target (nightly)
	@bash deploy/dev/fuzz.sh

clean-test-dbs: ## drop mr_test_* databases left by interrupted tests (ALL=1: templates too)
	@bash deploy/dev/clean-test-dbs.sh

sim: ## run only the WeChat Pay / Alipay simulator (dev keys; MR_SIM_ADDR, default 127.0.0.1:8090)
	cargo run -p tests --bin gateway-sim
