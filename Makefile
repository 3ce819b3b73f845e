# kassa — the two commands that matter: `make demo` and `make test`.
GO      ?= go
TOOLS   := $(CURDIR)/.tools/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/kassa-pay/kassa/internal/cli.Version=$(VERSION)
export KASSA_BTCD ?= $(TOOLS)/btcd
export CGO_ENABLED ?= 0

.PHONY: all build tools demo test lint fuzz bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/kassa ./cmd/kassa

# tools installs the pinned btcd (regtest node) and staticcheck from the Go module proxy.
tools:
	@scripts/install-tools.sh

# demo starts a regtest btcd, a demo store and the gateway on http://127.0.0.1:8430.
demo: build tools
	./bin/kassa demo

# test runs everything: format, vet, staticcheck, every test (real btcd, SQLite, PostgreSQL,
# the official BitPay SDK), then each fuzz target for FUZZTIME.
FUZZTIME ?= 10s
test: tools lint
	@scripts/ensure-postgres.sh
	$(GO) test -count=1 -timeout 20m ./...
	@$(MAKE) --no-print-directory fuzz

# fuzz runs every fuzz target for FUZZTIME (corpora in each package's testdata/fuzz).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) ./internal/invoice
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeInvoiceRequest$$' -fuzztime $(FUZZTIME) ./internal/api
	$(GO) test -run '^$$' -fuzz '^FuzzParseKey$$' -fuzztime $(FUZZTIME) ./internal/wallet
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./internal/bitauth

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

# bench runs the benchmarks the README reports: bench/results.txt and bench/RESULTS.md.
bench: tools
	@scripts/ensure-postgres.sh
	@scripts/bench.sh

clean:
	rm -rf bin .data
