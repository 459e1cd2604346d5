# payhook: `make help` lists the targets. Bun, Deno and the Stripe CLI come from npm (devDependencies),
# so a machine with only Node.js and npm can run every target.
BIN := node_modules/.bin
BUN := $(BIN)/bun
SRC := $(shell find src -name '*.ts') package.json

.DEFAULT_GOAL := help
.PHONY: help install run build lint fmt typecheck test test-unit test-tools soak bench bench-tools clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed ## install dependencies (npm ci)

run: node_modules/.installed ## serve on ./payhook.yaml, else the embedded default config (127.0.0.1:4242/webhook)
	$(BUN) src/main.ts serve

# The release build compiles the test-only fault switches away (src/testhooks.ts); dist/payhook-test keeps them.
dist/payhook: node_modules/.installed $(SRC)
	$(BUN) build src/main.ts --compile --minify --bytecode --define 'process.env.PAYHOOK_TEST_HOOK=""' --outfile $@

dist/payhook-test: node_modules/.installed $(SRC)
	$(BUN) build src/main.ts --compile --minify --bytecode --outfile $@

build: dist/payhook ## build the single executable dist/payhook

lint: node_modules/.installed ## check formatting, lint rules (incl. the runtime boundary) and types
	$(BIN)/biome check .
	$(BIN)/tsc -p .

fmt: node_modules/.installed ## format the code
	$(BIN)/biome check --write .

test: lint dist/payhook dist/payhook-test test-tools ## lint, build, then run every test (unit, contract, end-to-end on dist/payhook)
	$(BUN) test

# The durability-order test traces payhook's syscalls with strace (Debian's package), installed if missing.
test-tools:
	@command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }

soak: lint dist/payhook dist/payhook-test test-tools ## the full guarantee suites (20 kill -9 cycles, 10^5 verification cases, 10,000 failing deliveries)
	PAYHOOK_SOAK=full $(BUN) test --timeout 1800000 test/guarantees

# wrk (Debian's package) drives the load, taskset (util-linux) pins server and client to separate CPUs.
bench-tools:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@command -v taskset >/dev/null || { apt-get update -qq && apt-get install -y -qq util-linux; }

bench: dist/payhook dist/payhook-test bench-tools ## measure throughput vs a bare Bun.serve, latency, cold start, memory, drain (README "Performance")
	$(BUN) scripts/bench/main.ts

clean: ## remove build output and local stores
	rm -rf dist .tmp payhook.db payhook.db-wal payhook.db-shm
