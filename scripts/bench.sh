#!/usr/bin/env bash
# Runs every benchmark behind the README's Performance figures (make bench).
# Writes the raw go test output to bench/results.txt, then
# internal/benchtools turns it into bench/results.json (each figure beside
# its same-run baseline, with the ratio) and bench/RESULTS.md (the table).
# Figures are noisy on shared machines: compare ratios measured in one run.
#
#   scripts/bench.sh         the suite (about 8-9 minutes on 2 cores)
#   scripts/bench.sh 1m      the dashboard at 1M invoices (the store's
#                            BenchmarkDashboard, then the CSV export's
#                            BenchmarkDashboardExport; each seeds 1M rows on
#                            SQLite and PostgreSQL, 6-10 min in all)
#                            into bench/dashboard-1m.txt, then the report again
#
# Each figure's own command is printed in bench/RESULTS.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mkdir -p bench

header() {
  echo "# date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "# go: $(go version | cut -d' ' -f3)"
  echo "# nproc: $(nproc)"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "# os: $(uname -sm)"
  echo "# kernel: $(uname -r)"
}

report() {
  go run ./internal/benchtools report -json bench/results.json -md bench/RESULTS.md \
    bench/results.txt bench/dashboard-1m.txt
  cat bench/RESULTS.md
}

if [ "${1:-}" = 1m ]; then
  out=bench/dashboard-1m.txt
  { header
    go test -run '^$' -bench Dashboard -benchtime 3s -timeout 60m ./internal/store
    go test -run '^$' -bench DashboardExport -benchtime 3s -timeout 60m ./internal/dashboard/invoices
  } 2>&1 | tee "$out"
  report
  exit 0
fi

# run runs one benchmark command; a failure is reported at the end and does
# not stop the others.
failed=bench/.failed
rm -f "$failed"
run() {
  if ! "$@"; then echo "FAILED: $*" | tee -a "$failed"; fi
}

out=bench/results.txt
kassa="$(mktemp -d)/kassa"
trap 'rm -rf "$(dirname "$kassa")"' EXIT
{
  header
  # Invoice creation: the service (gateway) and the store path beside the
  # raw group-commit baseline, SQLite and PostgreSQL, 16 and 64 callers.
  run go test -run '^$' -bench 'CreateInvoice|RawInsertBaseline' -benchtime 20000x ./internal/gateway ./internal/store
  # POST /invoices over loopback HTTP: pos and signed beside an empty handler.
  run go test -run '^$' -bench HTTPCreateInvoice -benchtime 20000x ./internal/api
  # One invoice's draw from its store's budget: in memory (one node), in the database (several).
  run go test -run '^$' -bench InvoiceBudget -benchtime 3000x ./internal/api
  # Payment on btcd regtest → detected, and → paid IPN received.
  run go test -tags node -run '^$' -bench PaymentDetection -benchtime 100x ./internal/gateway
  run go test -tags node -run '^$' -bench IPNLatency -benchtime 100x ./internal/notify
  # One refund's PSBT with 10,000 coins in the store: the spend engine on
  # SQLite beside loading every coin, and the wallet's build from memory.
  run go test -run '^$' -bench PrepareRefund -benchtime 300x ./internal/spender
  run go test -run '^$' -bench BuildSpend ./internal/wallet
  # A signed refund → broadcast → refund_pending webhook on btcd regtest.
  run go test -tags node -run '^$' -bench RefundPending -benchtime 100x ./internal/notify
  # IPN delivery throughput, SQLite and PostgreSQL.
  run go test -run '^$' -bench IPNThroughput -benchtime 1x ./internal/notify
  # Block matching and address derivation.
  run go test -run '^$' -bench MatchBlock -benchtime 20x ./internal/chain
  run go test -run '^$' -bench Derive -benchtime 2s ./internal/wallet
  # The checkout page: time to first byte, render time and size.
  run go test -run '^$' -bench Checkout ./internal/web
  # kassa serve's resident memory, idle and after 20,000 invoices.
  run go build -trimpath -o "$kassa" ./cmd/kassa
  run go run ./internal/benchtools rss -kassa "$kassa" -invoices 20000 -stores 400
  # One node vs three on one PostgreSQL (order 1,3,3,1 twice), then ten
  # kill -9 of the leader with a block mined at once after each.
  run go run ./internal/benchtools cluster -kassa "$kassa" -invoices 12000 -stores 400 -rounds 2 -kills 10
} 2>&1 | tee "$out"
report
if [ -s "$failed" ]; then
  cat "$failed" >&2
  rm -f "$failed"
  exit 1
fi
