# gatehouse — `make test` is the whole check CI runs (.ci/run calls it).
SHELL   := /bin/bash
GO      ?= go
PKGS    := ./...
# An execution count, not a duration: Go 1.26's fuzz coordinator can fail a
# duration-bounded run with "context deadline exceeded" at the deadline
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 6000x
# Release stamp: version, commit and build date (gatehouse version, /metrics).
BUILDINFO := github.com/gatehouse-id/gatehouse/internal/buildinfo
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE      ?= $(shell git log -1 --format=%cI 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) -X $(BUILDINFO).date=$(DATE)

.PHONY: test lint unit fuzz conformance-doc interop image bench bench-compare bench-storage build run clean

## test: lint, unit and end-to-end tests on SQLite and a throwaway PostgreSQL, browser
## tests in headless Chromium, then brief fuzzing
test: lint
	@# Helm (a Go tool, for the chart test) compiles while apt fetches chromium.
	@$(GO) tool helm version >/dev/null 2>&1 & helm=$$!; scripts/ensure-chromium.sh; status=$$?; wait $$helm; exit $$status
	GATEHOUSE_REQUIRE_POSTGRES=1 GATEHOUSE_REQUIRE_BROWSER=1 scripts/with-postgres.sh $(MAKE) --no-print-directory unit fuzz

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

## unit: every package's tests (needs GATEHOUSE_TEST_DATABASE_URL for PostgreSQL).
## Verbose, less the RUN lines and passing sub-subtests, so CI shows which databases ran.
unit:
	set -o pipefail; $(GO) test -count=1 -race -timeout 20m -v $(PKGS) 2>&1 \
	  | grep --line-buffered -vE '^\s*=== (RUN|PAUSE|CONT|NAME)|^ {8,}--- PASS'

## fuzz: run each fuzz target briefly on top of its committed seed corpus. A fresh
## cache directory each run keeps the baseline small: a corpus grown by earlier runs
## would eat the whole time budget before any fuzzing.
FUZZ_TARGETS := provider:FuzzAuthorizeRequest provider:FuzzTokenRequest provider:FuzzLogoutRequest \
	provider:FuzzRegistration provider:FuzzJSONString consent:FuzzLoginForm consent:FuzzConsentForm consent:FuzzPasskeyAssertion
fuzz:
	@cache=$$(mktemp -d); trap 'rm -rf "$$cache"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name ($(FUZZTIME))"; \
	  $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=50x ./$$pkg -args -test.fuzzcachedir="$$cache/$$name" || exit 1; \
	done

## conformance-doc: regenerate docs/conformance.md from a full run of the conformance package
## (make test fails when the file differs from what the run finds)
conformance-doc:
	GATEHOUSE_CONFORMANCE_DOC=write scripts/with-postgres.sh $(GO) test -count=1 ./conformance

## interop: drive a development server with openid-client (npm; installed into ~/.cache)
interop:
	scripts/interop/openid-client.sh

## bench: gatehouse on SQLite and a throwaway PostgreSQL under every gatehouse-bench scenario at
## concurrency 1, 8 and 32; writes docs/benchmarks.md and docs/benchmarks.svg
## Both run PostgreSQL with its durability defaults (fsync, synchronous_commit on), on a
## cluster of their own even when GATEHOUSE_TEST_DATABASE_URL names another.
bench:
	env -u GATEHOUSE_TEST_DATABASE_URL GATEHOUSE_PG_DURABLE=1 scripts/with-postgres.sh scripts/bench.sh

## bench-compare: gatehouse against Ory Hydra v2.3.0 (same PostgreSQL) and node-oidc-provider,
## alternating rounds, medians and ratios, pgbench's ceiling; writes docs/benchmarks-compare.md.
## Peers are built/installed into ~/.cache/gatehouse-bench (BENCH_CACHE), never into the repository.
bench-compare:
	env -u GATEHOUSE_TEST_DATABASE_URL GATEHOUSE_PG_DURABLE=1 scripts/with-postgres.sh scripts/bench-compare.sh

## bench-storage: the storage hot paths on SQLite and a throwaway PostgreSQL
bench-storage:
	GATEHOUSE_REQUIRE_POSTGRES=1 scripts/with-postgres.sh $(GO) test -run '^$$' -bench . -benchtime=2s ./storage/sqlstore

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/gatehouse ./cmd/gatehouse

run:
	$(GO) run ./cmd/gatehouse serve --dev

## image: the container image (deploy/container/Dockerfile) with Docker or Podman
IMAGE ?= gatehouse:$(VERSION)
image:
	@engine=$$(command -v docker || command -v podman) || { echo "make image needs Docker or Podman"; exit 1; }; \
	  $$engine build -f deploy/container/Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t $(IMAGE) .

clean:
	rm -rf bin gatehouse-dev.db gatehouse-dev.db-wal gatehouse-dev.db-shm
