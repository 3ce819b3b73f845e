#!/usr/bin/env bash
# Runs the benchmarks behind the README's Performance figures, writes the raw
# output to bench/results.txt and a Markdown table to bench/RESULTS.md.
# Figures are noisy on shared machines: compare ratios measured in one run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out=bench/results.txt
mkdir -p bench
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(go version | cut -d' ' -f3) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  go test -run '^$' -bench 'CreateInvoice|RawInsertBaseline' -benchtime 20000x ./internal/gateway ./internal/store
  go test -run '^$' -bench 'Derive' -benchtime 2s ./internal/wallet
  go test -run '^$' -bench 'MatchBlock' -benchtime 20x ./internal/chain
  go test -run '^$' -bench 'PaymentDetection' -benchtime 100x ./internal/gateway
} 2>&1 | tee "$out"
awk '
  /^# / { sub(/^# /, ""); machine = $0; next }
  /^pkg: / { pkg = $2; sub(/.*\//, "", pkg); next }
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    line = ""
    for (i = 3; i < NF; i += 2) if ($(i+1) != "ns/op" || line == "") line = line sprintf("%s %s, ", $i, $(i+1))
    sub(/, $/, "", line)
    rows[++n] = sprintf("| %s | `%s` | %s |", pkg, name, line)
    if (name ~ /CreateInvoice|RawInsertBaseline/) {
      split(name, p, "/"); key = p[2] "/" p[3]
      for (i = 3; i < NF; i += 2) if ($(i+1) == "invoices/s") rate[pkg ":" p[1] ":" key] = $i
    }
  }
  END {
    print "Measured " machine "\n"
    print "| package | benchmark | result |"
    print "| --- | --- | --- |"
    for (i = 1; i <= n; i++) print rows[i]
    print "\n| invoice creation | service (gateway) | store path | raw baseline | service / raw |"
    print "| --- | --- | --- | --- | --- |"
    for (k in rate) if (k ~ /^store:BenchmarkRawInsertBaseline:/) {
      split(k, p, ":"); key = p[3]
      svc = rate["gateway:BenchmarkCreateInvoice:" key]; st = rate["store:BenchmarkCreateInvoice:" key]; raw = rate[k]
      printf "| %s | %s/s | %s/s | %s/s | %.0f%% |\n", key, svc, st, raw, (raw > 0 ? 100 * svc / raw : 0)
    }
  }' "$out" > bench/RESULTS.md
cat bench/RESULTS.md
