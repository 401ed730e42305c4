# smppmux: every build, test and run goes through these targets.
GO        ?= go
BIN       := bin
PREFIX    ?= /usr/local
FUZZTIME  ?= 30s
COUNT     ?= 6
# staticcheck, pinned: make lint runs this version through go run (the
# module proxy serves it; the module cache keeps it after the first run).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# smppmux version and -version print these, and smppmux_build_info
# reports them.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo +dirty)
LDFLAGS   := -X github.com/smppmux/smppmux/internal/buildinfo.version=$(VERSION) -X github.com/smppmux/smppmux/internal/buildinfo.commit=$(COMMIT)

.PHONY: all build deps test chaos lint fuzz bench bench-config bench-growth bench-queue bench-go demo install uninstall deb test-deb clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/smppmux ./cmd/smppmux

deps:
	./scripts/deps.sh

# Without redis-server (and no way to install it) the Redis store tests
# are skipped, each saying so; .ci/run makes that a failure. The same for
# promtool: alerts/ runs the alerting rules' unit tests (promtool test
# rules) and grafana/ checks the dashboard and has promtool parse its
# queries. systemd/ installs into a staging root when run as root.
test:
	-@./scripts/deps.sh
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# The fault suite (internal/chaos): network namespaces, iptables, a
# loop-mounted state_dir, redis-server. Root only; a scenario whose
# prerequisites are missing skips, saying which. About 6 minutes.
chaos:
	-@./scripts/deps.sh
	$(GO) vet -tags chaos ./internal/chaos
	$(GO) test -tags chaos -race -count=1 -v -timeout 30m ./internal/chaos

# vet (the chaos suite's build tag too), gofmt, staticcheck (its checks
# in staticcheck.conf) and a tidy go.mod.
lint:
	$(GO) vet ./...
	$(GO) vet -tags chaos ./internal/chaos
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags chaos ./internal/chaos
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod or go.sum is not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime $(FUZZTIME) ./internal/pdu
	$(GO) test -run '^$$' -fuzz FuzzParseBodies -fuzztime $(FUZZTIME) ./internal/pdu
	$(GO) test -run '^$$' -fuzz FuzzReceiptText -fuzztime $(FUZZTIME) ./dlr
	$(GO) test -run '^$$' -fuzz FuzzConcatRef -fuzztime $(FUZZTIME) ./internal/pdu
	$(GO) test -run '^$$' -fuzz FuzzSession -fuzztime $(FUZZTIME) ./smppserver

# The performance harness: direct vs through smppmux (and HAProxy when on
# PATH), paced latency, idle binds. See README, Performance.
bench: build
	./scripts/bench.sh

# What the configuration's size costs: a generated one of 1,000 clients,
# 20 upstreams, 50 groups and 10,000 routes against a small one, and its
# reload. See README, Performance.
bench-config: build
	./scripts/bench-config.sh

# Store and forward: 50,000 messages accepted while the SMSC takes 1,000/s.
bench-queue: build
	./scripts/bench-queue.sh

# Cost against outstanding mappings: an empty store against one filled
# with BENCH_GROWTH_N (10,000,000) messages waiting for receipts; startup,
# shutdown, bytes per mapping, reclaim. See scripts/bench-growth.sh and
# README, Performance.
bench-growth: build
	./scripts/bench-growth.sh

# Go micro-benchmarks, -count runs each for benchstat.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count $(COUNT) ./...

demo: build
	./scripts/demo.sh

# The binary, docs, man page, rules and dashboard under PREFIX, the unit
# (naming PREFIX) in /etc/systemd/system, /etc/smppmux readable by the
# service's group; as root, the system user SMPPMUX_USER (smppmux). See
# scripts/install.sh and README, Running it.
install: build
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" BIN="$(BIN)" ./scripts/install.sh install

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" ./scripts/install.sh uninstall

# The picture of the status page in README.md, docs/status-page.png: the
# browser test (headless Chromium, which make deps installs) writes it once
# it has built and checked the state the page shows.
.PHONY: screenshot
screenshot:
	$(GO) test -count=1 -run '^TestStatusPageBrowser$$' ./internal/daemon -screenshot "$(CURDIR)/docs/status-page.png"

# The Debian package, in DIST (dist/smppmux_VERSION_ARCH.deb), built with
# nfpm from the binary of make build; its version is that binary's. See
# packaging/deb.sh and README, Debian package.
DIST      ?= dist
deb: build
	BIN="$(BIN)" DIST="$(DIST)" ./packaging/deb.sh

# Installs the package with dpkg, upgrades it, removes and purges it
# (packaging, build tag deb). Root only; skipped otherwise, saying so, and
# a failure with SMPPMUX_REQUIRE_DEB=1. Refuses to run where smppmux is
# installed already.
test-deb:
	$(GO) vet -tags deb ./packaging/...
	$(GO) test -tags deb -race -count=1 -v -timeout 20m ./packaging

clean:
	rm -rf $(BIN)
