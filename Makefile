# payhook: `make help` lists the targets. Bun, Deno and the Stripe CLI come from npm (devDependencies),
# so a machine with only Node.js and npm can run every target.
BIN := node_modules/.bin
BUN := $(BIN)/bun
DENO := $(BIN)/deno
SRC := $(shell find src -name '*.ts') package.json

.DEFAULT_GOAL := help
.PHONY: help install run build build-deno test-deno lint fmt typecheck test test-unit test-tools soak bench bench-tools clean catalog verify-deploy docker

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed ## install dependencies (npm ci)

run: node_modules/.installed ## serve on ./payhook.yaml, else the embedded default config (127.0.0.1:4242/webhook)
	$(BUN) src/main.ts serve

# The store's writer thread (src/runtime/store-writer.*.ts) is a second entry point of each compiled binary.
# The release build compiles the test-only fault switches away (src/testhooks.ts); dist/payhook-test keeps them.
dist/payhook: node_modules/.installed $(SRC)
	$(BUN) build src/main.ts src/runtime/store-writer.bun.ts --compile --minify --bytecode --define 'process.env.PAYHOOK_TEST_HOOK=""' --outfile $@

dist/payhook-test: node_modules/.installed $(SRC)
	$(BUN) build src/main.ts src/runtime/store-writer.bun.ts --compile --minify --bytecode --outfile $@

build: dist/payhook ## build the single executable dist/payhook

# deno compile wraps the app around Deno's runtime base (denort), which Deno downloads once from dl.deno.land
# (it is not on npm); DENORT_BIN=/path/to/denort uses a local copy. --bundle embeds only what the app imports
# (2 MB) instead of node_modules with its toolchains (300 MB). deno compile has no --define: the release build
# maps src/testhooks.ts to src/testhooks.release.ts instead. tsc (make lint) type-checks, so Deno does not.
DENO_COMPILE := $(DENO) compile -A --no-check --bundle --include src/runtime/store-writer.deno.ts

dist/payhook-deno: node_modules/.installed $(SRC) deno.release-imports.json
	$(DENO_COMPILE) --import-map deno.release-imports.json --output $@ src/main.deno.ts

dist/payhook-deno-test: node_modules/.installed $(SRC)
	$(DENO_COMPILE) --output $@ src/main.deno.ts

build-deno: dist/payhook-deno ## build the single executable dist/payhook-deno with deno compile

lint: node_modules/.installed ## check formatting, lint rules (incl. the runtime boundary) and types
	$(BIN)/biome check .
	$(BIN)/tsc -p .

fmt: node_modules/.installed ## format the code
	$(BIN)/biome check --write .

test: lint dist/payhook dist/payhook-test test-tools ## lint, build, run every test (unit, contract, e2e on dist/payhook), then test-deno
	$(BUN) test
	$(MAKE) --no-print-directory test-deno

# The same Store contract on node:sqlite, then the whole e2e suite against Deno: the source as it is, then the
# deno compile binaries. Without network access to denort (see dist/payhook-deno), the binary run is skipped
# with a warning; any other compile failure fails.
test-deno: node_modules/.installed test-tools ## Store contract on node:sqlite, e2e suite on deno run and on dist/payhook-deno
	$(DENO) test -A --no-check test/contract/store.deno.test.ts
	PAYHOOK_CMD="$(CURDIR)/$(DENO) run -A $(CURDIR)/src/main.deno.ts" $(BUN) test test/e2e
	@mkdir -p .tmp
	@if $(MAKE) --no-print-directory dist/payhook-deno dist/payhook-deno-test >.tmp/deno-compile.log 2>&1; then \
	  echo "PAYHOOK_BINARY=dist/payhook-deno PAYHOOK_TEST_BINARY=dist/payhook-deno-test $(BUN) test test/e2e"; \
	  PAYHOOK_BINARY=$(CURDIR)/dist/payhook-deno PAYHOOK_TEST_BINARY=$(CURDIR)/dist/payhook-deno-test $(BUN) test test/e2e; \
	elif grep -q "Setting up base binary" .tmp/deno-compile.log; then \
	  grep -A4 "Setting up base binary" .tmp/deno-compile.log; \
	  echo "WARNING: e2e on the deno compile binary NOT RUN: Deno could not get its runtime base (denort)."; \
	  echo "WARNING: allow access to dl.deno.land, or set DENORT_BIN=/path/to/denort, then run make test-deno."; \
	else cat .tmp/deno-compile.log; exit 1; fi

# The durability-order test traces payhook's syscalls with strace (Debian's package), installed if missing;
# the deploy test validates deploy/payhook.service with systemd-analyze (Debian's systemd package).
test-tools:
	@command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }
	@command -v systemd-analyze >/dev/null || { apt-get update -qq && apt-get install -y -qq systemd; }

# The event types `payhook check` knows, generated from the stripe package's type definitions (committed, and
# regenerated whenever dependencies are installed, so a stripe upgrade updates the catalog in the same build).
src/catalog/event-types.ts: node_modules/.installed scripts/gen-event-types.ts
	$(BUN) scripts/gen-event-types.ts

# The shape of every object a Stripe event carries, generated the same way; the fixtures test checks every event
# `payhook trigger` sends against it, so a stripe upgrade that adds a required property fails until they follow.
src/catalog/object-types.ts src/catalog/thin-events.ts &: node_modules/.installed scripts/gen-object-types.ts
	$(BUN) scripts/gen-object-types.ts

catalog: src/catalog/event-types.ts src/catalog/object-types.ts src/catalog/thin-events.ts ## regenerate the Stripe event and object type catalogs from node_modules/stripe

verify-deploy: dist/payhook test-tools ## validate deploy/payhook.service (systemd-analyze) and deploy/Dockerfile's command
	PAYHOOK_BINARY=$(CURDIR)/dist/payhook $(BUN) test test/e2e/ops-deploy.test.ts

docker: dist/payhook ## build the container image payhook:latest from deploy/Dockerfile (needs a Docker daemon)
	docker build -f deploy/Dockerfile -t payhook:latest .

soak: lint dist/payhook dist/payhook-test test-tools ## the full guarantee suites (20 kill -9 cycles, 10^5 verification cases, 10,000 failing deliveries)
	PAYHOOK_SOAK=full $(BUN) test --timeout 1800000 test/guarantees

# wrk (Debian's package) drives the load, taskset (util-linux) pins server and client to separate CPUs, strace
# slows every fsync down for the slow-disk rows.
bench-tools:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@command -v taskset >/dev/null || { apt-get update -qq && apt-get install -y -qq util-linux; }
	@command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }

bench: dist/payhook dist/payhook-test bench-tools ## measure throughput vs a bare Bun.serve, latency, cold start, memory, drain (README "Performance")
	$(BUN) scripts/bench/main.ts

clean: ## remove build output and local stores
	rm -rf dist .tmp payhook.db payhook.db-wal payhook.db-shm payhook.db.lock
