# kassa — the two commands that matter: `make demo` and `make test`.
GO      ?= go
TOOLS   := $(CURDIR)/.tools/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/kassa-pay/kassa/internal/cli.Version=$(VERSION)
export KASSA_BTCD ?= $(TOOLS)/btcd
export KASSA_PSBTSIGN ?= $(TOOLS)/psbtsign
export CGO_ENABLED ?= 0

.PHONY: all build tools demo test lint fuzz bench bench-1m clean chaos

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/kassa ./cmd/kassa

# tools installs the pinned btcd (regtest node), staticcheck and psbtsign (the test wallet,
# test/psbtsign) from the Go module proxy.
tools:
	@scripts/install-tools.sh

# demo starts a regtest btcd, a demo store and the gateway on http://127.0.0.1:8430.
demo: build tools
	./bin/kassa demo

# test runs everything: format, vet, staticcheck, every test (real btcd, SQLite, PostgreSQL,
# the official BitPay SDK), then each fuzz target for FUZZTIME executions.
# Tests that start a btcd regtest node are built only with the tag node: `go test ./...`
# alone runs the node-less suite; test, vet and staticcheck here pass -tags node.
# Budgets are counts, not durations: go1.26's fuzz coordinator can fail a
# duration-bounded run with "context deadline exceeded" at its end on a
# busy machine (golang/go#75804, fixed in go1.27), a count has no deadline.
FUZZTIME ?= 30000x
test: tools lint
	@scripts/ensure-postgres.sh
	$(GO) test -count=1 -tags node -timeout 20m ./...
	@$(MAKE) --no-print-directory fuzz

# fuzz runs every fuzz target (corpora in each package's testdata/fuzz): the first four
# for FUZZTIME, the narrower decoder and parser targets after them for FUZZTIME_SHORT
# (each about 5-10 s on 2 cores).
FUZZTIME_SHORT ?= 8000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) ./internal/invoice
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeInvoiceRequest$$' -fuzztime $(FUZZTIME) ./internal/api
	$(GO) test -run '^$$' -fuzz '^FuzzParseKey$$' -fuzztime $(FUZZTIME) ./internal/wallet
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./internal/bitauth
	$(GO) test -run '^$$' -fuzz '^FuzzCheckSigned$$' -fuzztime $(FUZZTIME_SHORT) ./internal/wallet
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePSBT$$' -fuzztime $(FUZZTIME_SHORT) ./internal/wallet
	$(GO) test -run '^$$' -fuzz '^FuzzRequestBodies$$' -fuzztime $(FUZZTIME_SHORT) ./internal/api
	$(GO) test -run '^$$' -fuzz '^FuzzLenientJSON$$' -fuzztime $(FUZZTIME_SHORT) ./internal/api
	$(GO) test -run '^$$' -fuzz '^FuzzFormToJSON$$' -fuzztime $(FUZZTIME_SHORT) ./internal/api
	$(GO) test -run '^$$' -fuzz '^FuzzParseDate$$' -fuzztime $(FUZZTIME_SHORT) ./internal/api
	$(GO) test -run '^$$' -fuzz '^FuzzBIP21$$' -fuzztime $(FUZZTIME_SHORT) ./internal/bitpay
	$(GO) test -run '^$$' -fuzz '^FuzzMatchBlock$$' -fuzztime $(FUZZTIME_SHORT) ./internal/chain
	$(GO) test -run '^$$' -fuzz '^FuzzNodeAnswers$$' -fuzztime $(FUZZTIME_SHORT) ./internal/chain/rpc
	$(GO) test -run '^$$' -fuzz '^FuzzEsploraAnswers$$' -fuzztime $(FUZZTIME_SHORT) ./internal/chain/esplora

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags node ./...
	$(TOOLS)/staticcheck -tags node ./...

# bench runs every benchmark the README reports (about 8-9 minutes): raw output in
# bench/results.txt, figures beside their same-run baselines in bench/results.json
# and bench/RESULTS.md. bench-1m adds the dashboard at 1M invoices (6-10 minutes
# more: its queries and its CSV export each seed a million rows on SQLite and
# on PostgreSQL).
bench: tools
	@scripts/ensure-postgres.sh
	@scripts/bench.sh

bench-1m: tools
	@scripts/ensure-postgres.sh
	@scripts/bench.sh 1m

# chaos runs the full fault-injection harness (test/chaos, build tag chaos):
# 20 kill -9 of kassa during a payment storm, reorgs of 1 to 6 blocks with
# double-spends, RBF, the IPN receiver failing and hanging, the node's RPC
# gone for a minute, as root a full disk on a tmpfs, and a refund storm of
# 30 refunds with kassa spend submit killed between record and send and
# between send and record. It prints the checker's totals (CHAOS TOTALS
# ...: refunds, kills, reorgs, losses, double-payments). `make test` runs the bounded
# TestChaosSmall. KASSA_CHAOS_SEED=N replays a run.
chaos: tools
	$(GO) test -tags chaos -count=1 -timeout 40m -run '^TestChaosFull$$' -v ./test/chaos

clean:
	rm -rf bin .data
