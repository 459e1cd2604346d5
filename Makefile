# payhook: `make help` lists the targets. Bun, Deno and the Stripe CLI come from npm (devDependencies),
# so a machine with only Node.js and npm can run every target.
BIN := node_modules/.bin
BUN := $(BIN)/bun
DENO := $(BIN)/deno
# bun test's per-test timeout: end-to-end tests start the binary (under `deno run`, a fresh compile each time) on
# a 2-core machine. Given on the command line because bun 1.4.5 does not apply bunfig.toml's [test] timeout.
TEST_TIMEOUT := --timeout 60000
SRC := $(shell find src -name '*.ts' -o -name '*.css') package.json build/ui-client.txt
# The version stamped into every build; empty means package.json's.
VERSION ?=

.DEFAULT_GOAL := help
.PHONY: help install run build build-deno release release-tools release-test package package-tools test-deno lint fmt typecheck test test-unit test-tools soak bench bench-tools clean catalog docs verify-deploy docker

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed ## install dependencies (npm ci)

run: node_modules/.installed build/ui-client.txt ## serve on ./payhook.yaml, else the embedded default config (127.0.0.1:4242/webhook)
	$(BUN) src/main.ts serve

# Every build carries its stamp (src/ops/build-stamp.ts): the version (package.json's, or VERSION=…), the git commit
# and the commit's date, from scripts/build-stamp.sh. The file is rewritten only when the stamp changes, so a
# new commit rebuilds the binaries and nothing else does.
STAMP := .tmp/build-stamp.json
$(STAMP): FORCE
	@mkdir -p $(@D)
	@VERSION="$(VERSION)" scripts/build-stamp.sh >$@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi
FORCE:

# The operator page's script, bundled for the browser and embedded in the executable as text (src/ui/assets.ts).
build/ui-client.txt: node_modules/.installed $(shell find src/ui/client -name '*.ts')
	$(BUN) build src/ui/client/main.ts --target=browser --minify --outfile $@

# The store's writer thread (src/store-writer.bun.ts) is a second entry point of each compiled binary, found
# there as store-writer.bun.js (src/runtime/bun.ts).
# A compiled binary ignores a stray .env or bunfig.toml in the folder it starts in (Bun would load them).
BUN_COMPILE = $(BUN) build src/main.ts src/store-writer.bun.ts --compile --minify --bytecode --no-compile-autoload-dotenv --no-compile-autoload-bunfig
# The release builds compile the test-only fault switches away (src/testhooks.ts); dist/payhook-test keeps them.
NO_TEST_HOOKS := --define 'process.env.PAYHOOK_TEST_HOOK=""'

dist/payhook: node_modules/.installed $(SRC) $(STAMP)
	$(BUN_COMPILE) $(NO_TEST_HOOKS) --define "PAYHOOK_BUILD=$$(cat $(STAMP))" --outfile $@

dist/payhook-test: node_modules/.installed $(SRC) $(STAMP)
	$(BUN_COMPILE) --define "PAYHOOK_BUILD=$$(cat $(STAMP))" --outfile $@

build: dist/payhook ## build the single executable dist/payhook

# deno compile wraps the app around Deno's runtime base (denort), which Deno downloads once from dl.deno.land
# (it is not on npm); DENORT_BIN=/path/to/denort uses a local copy. --bundle embeds only what the app imports
# (2 MB) instead of node_modules with its toolchains (300 MB). deno compile has no --define: the release build
# maps src/testhooks.ts to src/testhooks.release.ts instead. tsc (make lint) type-checks, so Deno does not.
DENO_COMPILE := $(DENO) compile -A --no-check --bundle --include src/store-writer.deno.ts

# The import map also swaps src/ops/build-stamp.ts for the stamp written as a module.
dist/payhook-deno: node_modules/.installed $(SRC) deno.release-imports.json $(STAMP)
	@echo "export const STAMP = $$(cat $(STAMP));" >.tmp/build-stamp.deno.ts
	$(DENO_COMPILE) --import-map deno.release-imports.json --output $@ src/main.deno.ts

dist/payhook-deno-test: node_modules/.installed $(SRC)
	$(DENO_COMPILE) --output $@ src/main.deno.ts

build-deno: dist/payhook-deno ## build the single executable dist/payhook-deno with deno compile

# The downloads: one binary per target, cross-compiled from this machine. Bun fetches each target's runtime from
# the npm registry once (~/.bun/install/cache). No Windows build: payhook's exec action signals process groups,
# reload is SIGHUP and the store's files get POSIX modes, none of which Windows has (docs/deploy.md#install).
RELEASE_TARGETS := linux-x64 linux-arm64 linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64
RELEASE_FILES := $(RELEASE_TARGETS:%=dist/release/payhook-%)

# Built under its final name: Bun embeds the output's basename, so a rename afterwards would not match a rebuild.
dist/release/payhook-%: node_modules/.installed $(SRC) $(STAMP)
	@mkdir -p $(@D)
	$(BUN_COMPILE) --target=bun-$* $(NO_TEST_HOOKS) --define "PAYHOOK_BUILD=$$(sed 's/}$$/,"target":"$*"}/' $(STAMP))" --outfile $@

dist/release/SHA256SUMS: $(RELEASE_FILES)
	cd $(@D) && sha256sum $(notdir $(RELEASE_FILES)) >SHA256SUMS

release: dist/release/SHA256SUMS ## cross-compile the downloads into dist/release/ (VERSION=… overrides package.json's), with SHA256SUMS
	@cat $<

# qemu-user-static runs the arm64 build (on libc6-arm64-cross's glibc) and the x64 build on an emulated Nehalem CPU;
# musl's loader shows why the musl builds cannot run here; shellcheck and dash check install.sh; file names the
# darwin builds' format. All Debian packages, installed if missing.
RELEASE_TOOLS := qemu-user-static libc6-arm64-cross musl shellcheck dash file
release-tools:
	@command -v qemu-aarch64-static >/dev/null && command -v qemu-x86_64-static >/dev/null \
	  && test -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 && test -e /lib/ld-musl-x86_64.so.1 \
	  && command -v shellcheck >/dev/null && command -v dash >/dev/null && command -v file >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq $(RELEASE_TOOLS); }

# The images and .deb packages, from the release builds and this machine's Debian files only (no registry):
# podman builds the images (as root, runc, cgroupfs, vfs: what works in a VM without systemd), dpkg-deb the
# packages. docs/packages.md describes them. SOURCE_DATE_EPOCH (the commit's date) fixes every timestamp in them.
PKG_VERSION := $(or $(VERSION),$(shell sed -n 's/^  "version": "\([^"]*\)",*$$/\1/p' package.json))
PKG := dist/packages
IMAGES := $(foreach a,amd64 arm64,$(PKG)/payhook-$(PKG_VERSION)-image-linux-$(a).tar $(PKG)/payhook-$(PKG_VERSION)-shell-image-linux-$(a).tar)
DEBS := $(PKG)/payhook_$(PKG_VERSION)_amd64.deb $(PKG)/payhook_$(PKG_VERSION)_arm64.deb
LINUX_BUILDS := dist/release/payhook-linux-x64 dist/release/payhook-linux-arm64
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

$(PKG)/payhook-$(PKG_VERSION)-image-linux-%.tar: $(LINUX_BUILDS) deploy/Dockerfile deploy/payhook.docker.yaml scripts/package/image.sh scripts/package/image-root.sh | package-tools
	@mkdir -p $(@D)
	scripts/package/image.sh $* plain $(PKG_VERSION) $@
$(PKG)/payhook-$(PKG_VERSION)-shell-image-linux-%.tar: $(LINUX_BUILDS) deploy/Dockerfile deploy/payhook.docker.yaml scripts/package/image.sh scripts/package/image-root.sh | package-tools
	@mkdir -p $(@D)
	scripts/package/image.sh $* shell $(PKG_VERSION) $@
$(PKG)/payhook_$(PKG_VERSION)_amd64.deb: dist/release/payhook-linux-x64 deploy/payhook.service $(wildcard deploy/deb/*) scripts/package/deb.sh | package-tools
	@mkdir -p $(@D)
	scripts/package/deb.sh $(PKG_VERSION) amd64 $< $@
$(PKG)/payhook_$(PKG_VERSION)_arm64.deb: dist/release/payhook-linux-arm64 dist/release/payhook-linux-x64 deploy/payhook.service $(wildcard deploy/deb/*) scripts/package/deb.sh | package-tools
	@mkdir -p $(@D)
	scripts/package/deb.sh $(PKG_VERSION) arm64 $< $@
$(PKG)/SHA256SUMS: $(IMAGES) $(DEBS)
	cd $(@D) && sha256sum $(notdir $^) >SHA256SUMS

package: release $(PKG)/SHA256SUMS ## build the container images (OCI archives) and .deb packages into dist/packages/, with SHA256SUMS
	@cat $(PKG)/SHA256SUMS

# Debian's podman, runc, busybox-static, lintian, dpkg-dev, caddy and nginx (the package and reverse-proxy
# tests), and busybox-static for arm64 (for the arm64 -shell image: one .deb fetched with apt-get download,
# after adding arm64 to dpkg's architectures, and unpacked into .tmp/busybox-arm64).
PACKAGE_TOOLS := podman runc busybox-static lintian dpkg-dev ca-certificates tzdata caddy nginx-light libc6-arm64-cross
package-tools:
	@command -v podman >/dev/null && command -v runc >/dev/null && test -x /bin/busybox && command -v lintian >/dev/null \
	  && command -v dpkg-deb >/dev/null && test -e /etc/ssl/certs/ca-certificates.crt && test -d /usr/share/zoneinfo \
	  && command -v caddy >/dev/null && command -v nginx >/dev/null && test -e /usr/aarch64-linux-gnu/lib/libc.so.6 \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PACKAGE_TOOLS); }
	@test -x .tmp/busybox-arm64/bin/busybox || { dpkg --print-foreign-architectures | grep -qx arm64 \
	  || { dpkg --add-architecture arm64 && apt-get update -qq; }; \
	  rm -rf .tmp/busybox-arm64 && mkdir -p .tmp/busybox-arm64 && cd .tmp/busybox-arm64 \
	  && apt-get download -qq busybox-static:arm64 && dpkg-deb -x busybox-static_*_arm64.deb . && rm busybox-static_*_arm64.deb; }

release-test: release release-tools dist/payhook ## run every linux download here (natively, on qemu arm64 and Nehalem), check the rest, test install.sh
	$(BUN) test $(TEST_TIMEOUT) test/release

lint: node_modules/.installed build/ui-client.txt ## check formatting, lint rules (incl. the runtime boundary) and types
	$(BIN)/biome check .
	$(BIN)/tsc -p .

fmt: node_modules/.installed ## format the code
	$(BIN)/biome check --write .

test: lint dist/payhook dist/payhook-test test-tools release release-tools package ## lint, build, run every test (unit, contract, e2e on dist/payhook, the release downloads, the images and packages), then test-deno
	$(BUN) test $(TEST_TIMEOUT)
	$(MAKE) --no-print-directory test-deno

# The same Store contract on node:sqlite and on PostgreSQL, then the whole e2e suite (and the exec chaos suite, whose
# child-process handling is per runtime) against Deno: the source as it is, then the
# deno compile binaries. Without network access to denort (see dist/payhook-deno), the binary run is skipped
# with a warning; any other compile failure fails.
test-deno: node_modules/.installed build/ui-client.txt test-tools ## Store contract on node:sqlite and PostgreSQL, e2e suite on deno run and on dist/payhook-deno
	$(DENO) test -A --no-check test/contract/sqlite.deno.test.ts test/contract/postgres.deno.test.ts
	PAYHOOK_CMD="$(CURDIR)/$(DENO) run -A $(CURDIR)/src/main.deno.ts" $(BUN) test $(TEST_TIMEOUT) test/e2e test/guarantees/exec-chaos.test.ts
	@mkdir -p .tmp
	@if $(MAKE) --no-print-directory dist/payhook-deno dist/payhook-deno-test >.tmp/deno-compile.log 2>&1; then \
	  echo "PAYHOOK_BINARY=dist/payhook-deno PAYHOOK_TEST_BINARY=dist/payhook-deno-test $(BUN) test $(TEST_TIMEOUT) test/e2e"; \
	  PAYHOOK_BINARY=$(CURDIR)/dist/payhook-deno PAYHOOK_TEST_BINARY=$(CURDIR)/dist/payhook-deno-test $(BUN) test $(TEST_TIMEOUT) test/e2e; \
	elif grep -q "Setting up base binary" .tmp/deno-compile.log; then \
	  grep -A4 "Setting up base binary" .tmp/deno-compile.log; \
	  echo "WARNING: e2e on the deno compile binary NOT RUN: Deno could not get its runtime base (denort)."; \
	  echo "WARNING: allow access to dl.deno.land, or set DENORT_BIN=/path/to/denort, then run make test-deno."; \
	else cat .tmp/deno-compile.log; exit 1; fi

# The durability-order test traces payhook's syscalls with strace (Debian's package), installed if missing;
# the deploy test validates deploy/payhook.service with systemd-analyze (Debian's systemd package); the
# PostgreSQL tests start throwaway clusters with initdb and pg_ctl from Debian's postgresql package; the operator
# page's tests drive Debian's chromium with playwright-core (whose own browser download cannot run here); the
# drop-in forwarding test verifies payhook's signatures in a Python app too, with Debian's python3-stripe.
test-tools:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
	@command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }
	@command -v systemd-analyze >/dev/null || { apt-get update -qq && apt-get install -y -qq systemd; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; }
	@/usr/bin/python3 -c 'import stripe' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-stripe; }

# The event types `payhook check` knows, generated from the stripe package's type definitions (committed, and
# regenerated whenever dependencies are installed, so a stripe upgrade updates the catalog in the same build).
src/catalog/event-types.ts: node_modules/.installed scripts/gen-event-types.ts
	$(BUN) scripts/gen-event-types.ts

# The shape of every object a Stripe event carries, generated the same way; the fixtures test checks every event
# `payhook trigger` sends against it, so a stripe upgrade that adds a required property fails until they follow.
src/catalog/object-types.ts src/catalog/thin-events.ts &: node_modules/.installed scripts/gen-object-types.ts
	$(BUN) scripts/gen-object-types.ts

catalog: src/catalog/event-types.ts src/catalog/object-types.ts src/catalog/thin-events.ts ## regenerate the Stripe event and object type catalogs from node_modules/stripe

# The configuration reference at the end of docs/configuration.md, generated from the config schema; test/docs.test.ts
# fails when it is stale.
docs: node_modules/.installed ## regenerate the configuration reference in docs/configuration.md from the schema
	$(BUN) scripts/gen-config-docs.ts

verify-deploy: dist/payhook test-tools ## validate deploy/payhook.service (systemd-analyze) and deploy/Dockerfile's command
	PAYHOOK_BINARY=$(CURDIR)/dist/payhook $(BUN) test $(TEST_TIMEOUT) test/e2e/ops-deploy.test.ts

docker: $(PKG)/payhook-$(PKG_VERSION)-image-linux-amd64.tar ## load the amd64 image (built by podman, see package) into Docker as payhook:VERSION
	docker load -i $<

soak: lint dist/payhook dist/payhook-test test-tools ## the full guarantee suites (20 kill -9 cycles, 10^5 verification cases, 10,000 failing deliveries)
	PAYHOOK_SOAK=full $(BUN) test --timeout 1800000 test/guarantees

# wrk (Debian's package) drives the load, taskset (util-linux) pins server and client to separate CPUs, strace
# slows every fsync down for the slow-disk rows.
bench-tools:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@command -v taskset >/dev/null || { apt-get update -qq && apt-get install -y -qq util-linux; }
	@command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }

bench: dist/payhook dist/payhook-test bench-tools ## measure throughput vs a bare Bun.serve, latency, cold start, memory, drain (docs/performance.md)
	$(BUN) scripts/bench/main.ts

clean: ## remove build output and local stores
	rm -rf dist build .tmp payhook.db payhook.db-wal payhook.db-shm payhook.db.lock
