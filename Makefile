# stickless: see README.md. Targets:
#   make cluster  Redis, three demo instances and nginx round-robin on http://127.0.0.1:8080
#                 (STICKLESS_REDIS_MODE=sentinel|cluster for the other topologies)
#   make soak     faults under load, with the invariants and linearizability checked (SOAK=60s: a quick run)
#   make demo   run the demo app on http://127.0.0.1:8000 (one process, embedded store)
#   make test   install the servers the tests need (as root, if missing), then run every test
#   make lint   go vet, gofmt and staticcheck on every module of the repository
#   make rules  promtool check and unit tests of the alert rules (deploy/alerts.yml)
GO ?= go
TESTFLAGS ?= -race -count=1 -timeout 25m
# The modules of this repository: the library at the root, and those whose
# heavier dependencies (chromedp, peers' libraries, frameworks, Prometheus,
# OpenTelemetry) must stay out of the library's module graph. The demo,
# cmd/whatsup, is one of them: it serves Prometheus metrics through prom and
# exports traces through otelsession.
MODULES ?= . e2e bench prom otelsession cmd/whatsup examples
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: demo test lint deps build rules

demo:
	cd cmd/whatsup && $(GO) run . -insecure-cookie

deps:
	bash deploy/install-deps.sh

# The library's tests and the e2e module's run side by side: both mostly wait
# on servers, and together they take about as long as the slower one. The
# prom, otelsession, bench (its charts, the soak's units and linearizability
# checker, loadgen's units), cmd/whatsup and examples modules' tests
# (examples: chi, gin, echo and the README's quick start;
# examples/internal/docblocks compiles every Go block of README.md and docs/)
# are short and run after the library's.
test: deps lint rules
	( cd e2e && $(GO) test $(TESTFLAGS) ./... ) & e2e=$$!; \
	$(GO) test $(TESTFLAGS) ./...; lib=$$?; \
	( cd prom && $(GO) test $(TESTFLAGS) ./... && cd ../otelsession && $(GO) test $(TESTFLAGS) ./... && \
	  cd ../bench && $(GO) test $(TESTFLAGS) ./... && cd ../cmd/whatsup && $(GO) test $(TESTFLAGS) ./... ); p=$$?; \
	( cd examples && $(GO) test $(TESTFLAGS) ./... ); ex=$$?; \
	wait $$e2e; e=$$?; [ $$lib -eq 0 ] && [ $$p -eq 0 ] && [ $$ex -eq 0 ] && [ $$e -eq 0 ]

# The alerting rules, checked and unit-tested (deploy/alerts_test.yml: each
# rule firing and not) by promtool, of Debian's prometheus package.
rules:
	promtool check rules deploy/alerts.yml
	promtool test rules deploy/alerts_test.yml

lint:
	@set -e; for m in $(MODULES); do echo "lint: $$m"; (cd $$m && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...); done
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

build:
	mkdir -p bin && $(GO) build -o bin/ ./cmd/... && cd cmd/whatsup && $(GO) build -o ../../bin/ .

# make cluster: the demo in its real topology, in the foreground: Redis (AOF,
# authenticated; standalone, sentinel or cluster by STICKLESS_REDIS_MODE),
# three whatsup instances and nginx round-robin on http://127.0.0.1:8080,
# and Prometheus when the instances serve metrics.
# Ctrl-C stops it all. Settings: see the environment variables at the top of
# deploy/cluster.sh (STICKLESS_HTTP_PORT, STICKLESS_INSTANCES, STICKLESS_REDIS_URL...).
.PHONY: cluster
cluster:
	GO=$(GO) bash deploy/cluster.sh

# make bench  the side-by-side benchmark of session libraries (bench/, its own
#             module): one redis-server, nginx and wrk on loopback, about 12
#             minutes; BENCHFLAGS=-quick for a one-minute run, BENCHFLAGS=-profile=cpu.pprof
#             to add a CPU profile of stickless on the read scenario.
# make c10k   10,000 keep-alive connections through nginx round-robin over three
#             stickless instances vs 100 connections, 20 s each; then the
#             long-connection run (make c10k-streams).
# make c10k-streams  10,000 event streams (GET /api/events) of logged-in
#             users through nginx (deploy/nginx.conf) over three cmd/whatsup
#             instances, held 60 s, then 1,000 users logged out everywhere:
#             drops, ends and their delay, Redis commands/s, RSS per stream,
#             page p99 meanwhile. About 3 minutes; STREAMSFLAGS=-streams=2000
#             for a smaller run.
# None is part of make test. All build into a temporary directory.
# make bench and make c10k-streams save their results and draw their chart
# in docs/charts (bench.json and .svg, streams.json and .svg), as make soak
# does (soak-MODE.json and .svg); -charts= in BENCHFLAGS, STREAMSFLAGS or
# SOAKFLAGS writes none.
# make charts  draws docs/charts/*.svg again from the saved results beside
#             them, measuring nothing.
BENCHFLAGS ?=
STREAMSFLAGS ?=
.PHONY: bench c10k c10k-streams charts
bench:
	cd bench && $(GO) vet ./... && $(GO) run ./cmd/loadgen $(BENCHFLAGS)

c10k:
	ulimit -n $$(ulimit -Hn) && cd bench && $(GO) run ./cmd/loadgen -c10k $(BENCHFLAGS)
	$(MAKE) c10k-streams

c10k-streams:
	ulimit -n $$(ulimit -Hn) && cd bench && $(GO) run ./cmd/loadgen -c10k-streams $(STREAMSFLAGS)

charts:
	cd bench && $(GO) run ./cmd/charts ../docs/charts/*.json

# make soak   the demo's topology (internal/topology, as make cluster) under
#             steady load with faults on a schedule: 300 virtual users through
#             nginx, instance and Redis kills, SIGSTOP, failovers, maxmemory;
#             it checks that nothing acknowledged is lost, no session outlives
#             its logout, and every answer is 2xx/3xx/401/429/503+Retry-After,
#             checks the history of every session for linearizability
#             (Porcupine), and prints a markdown table. SOAK=60s for a quick run;
#             STICKLESS_REDIS_MODE=sentinel|cluster for the other topologies;
#             SOAKFLAGS=-out=soak.md to keep the table (and the views of the
#             sessions that are not linearizable), -client-cache for the
#             client-side cache. Not part of make test.
SOAK ?= 5m
SOAKFLAGS ?=
.PHONY: soak
soak:
	cd bench && $(GO) run ./cmd/soak -mode $${STICKLESS_REDIS_MODE:-standalone} -duration $(SOAK) $(SOAKFLAGS)
