#!/usr/bin/env bash
# Installs the pinned tools kassa's tests and demo need into .tools/bin,
# from the Go module proxy: btcd (the regtest node), staticcheck and psbtsign
# (the test wallet).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.tools/bin"
mkdir -p "$bin"
"$root/scripts/install-btcd.sh"
staticcheck_version=v0.8.2
if [ "$(cat "$bin/staticcheck.version" 2>/dev/null)" != "$staticcheck_version" ] || [ ! -x "$bin/staticcheck" ]; then
  echo "installing staticcheck $staticcheck_version into $bin" >&2
  GOBIN="$bin" GOTOOLCHAIN=local go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
  echo "$staticcheck_version" > "$bin/staticcheck.version"
fi
# psbtsign, the test wallet that signs kassa's PSBTs with code independent of
# kassa's (btcd's pre-split psbt package), from its own module in
# test/psbtsign, pinned by that module's go.mod and go.sum; rebuilt when
# they or its source change.
psbtsign_stamp="$(cat "$root/test/psbtsign/go.mod" "$root/test/psbtsign/go.sum" "$root/test/psbtsign/"*.go | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$bin/psbtsign.version" 2>/dev/null)" != "$psbtsign_stamp" ] || [ ! -x "$bin/psbtsign" ]; then
  echo "building psbtsign (test/psbtsign) into $bin" >&2
  (cd "$root/test/psbtsign" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -trimpath -o "$bin/psbtsign" .)
  echo "$psbtsign_stamp" > "$bin/psbtsign.version"
fi
# Debian's Chromium for the checkout page's browser tests.
if ! command -v chromium >/dev/null; then
  echo "installing chromium (apt-get) for the browser tests" >&2
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends chromium >/dev/null \
    || { DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update >/dev/null && DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends chromium >/dev/null; }
fi
# The official BitPay Node SDK for the conformance test, and the browser
# test's Node packages (playwright-core, jsqr, eventsource), in test/sdk,
# pinned by its lockfile.
sdk="$root/test/sdk"
if ! command -v npm >/dev/null; then
  echo "npm is not installed: install Node.js (apt-get install nodejs npm) for the SDK conformance test" >&2
  exit 1
fi
if ! cmp -s "$sdk/package-lock.json" "$sdk/node_modules/.kassa-installed-lock" 2>/dev/null; then
  echo "installing the official BitPay SDK into test/sdk (npm ci)" >&2
  (cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$sdk/package-lock.json" "$sdk/node_modules/.kassa-installed-lock"
fi
