# campaignctl — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build demo test test-short bench chaos fuzz fmt vet pg-start pg-stop clean

all: build

build:
	go build -o bin/campaignctl ./cmd/campaignctl

## demo: private Postgres + SMTP capture + demo CRM + example campaigns, end to end;
## KEEP=1 keeps the daemon (status page /ui/, /metrics) running until Ctrl-C
KEEP ?= $(CAMPAIGNCTL_DEMO_KEEP)
demo:
	CAMPAIGNCTL_DEMO_KEEP=$(KEEP) bash scripts/demo.sh

## test: every test, against a private Postgres cluster started for the run
test:
	bash scripts/test.sh

## test-short: the inner loop: no race detector, the slowest end-to-end tests skipped
test-short:
	bash scripts/test.sh short

## bench: benchmarks on a private Postgres cluster (BENCH=regexp, BENCHTIME=1x)
bench:
	bash scripts/postfix.sh >/dev/null && GOFLAGS="-timeout=60m $$GOFLAGS" bash scripts/test.sh bench

## chaos: the fault harness at full size (100,000 contacts, 3 replicas, ~20 kill -9s,
## Postgres crashes, relay outages and refusals); SEED=n replays a run
chaos:
	go run ./cmd/chaos $(if $(SEED),-seed $(SEED))

## fuzz: every fuzz target for FUZZTIME each (default 1m); FUZZ=regexp picks some,
## FUZZ_SAVE=1 keeps what they found in each package's testdata/fuzz/ (in git)
fuzz:
	bash scripts/fuzz.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	go vet ./...

## dashboards: regenerate deploy/grafana/dashboards/*.json from deploy/grafana/gen
.PHONY: dashboards
dashboards:
	go generate ./deploy/grafana/gen

pg-start:
	@bash scripts/pg.sh start

pg-stop:
	@bash scripts/pg.sh stop

clean:
	-bash scripts/pg.sh stop
	-bash scripts/test.sh clean
	rm -rf bin .data
