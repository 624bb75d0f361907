# campaignctl — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build demo test bench fmt vet pg-start pg-stop clean

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

## bench: benchmarks on a private Postgres cluster (BENCH=regexp, BENCHTIME=1x)
bench:
	bash scripts/postfix.sh >/dev/null && GOFLAGS="-timeout=60m $$GOFLAGS" bash scripts/test.sh bench

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	go vet ./...

pg-start:
	@bash scripts/pg.sh start

pg-stop:
	@bash scripts/pg.sh stop

clean:
	-bash scripts/pg.sh stop
	rm -rf bin .data
