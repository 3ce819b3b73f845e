#!/usr/bin/env bash
# install-btcd.sh installs the btcd full node that kassa's regtest
# integration tests run (internal/regtest) into <repo>/.tools/bin.
# It builds the pinned version from the Go module proxy with `go install`
# and does nothing when that version is already installed.
set -euo pipefail

BTCD_MODULE="github.com/btcsuite/btcd"
BTCD_VERSION="v0.26.2"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${repo}/.tools/bin"
stamp="${bin}/btcd.version"

log() { echo "install-btcd: $*" >&2; }

if [[ -x "${bin}/btcd" && -f "${stamp}" && "$(cat "${stamp}")" == "${BTCD_VERSION}" ]]; then
	log "btcd ${BTCD_VERSION} already installed at ${bin}/btcd"
	exit 0
fi

if ! command -v go >/dev/null 2>&1; then
	log "go is not on PATH; install Go first"
	exit 1
fi

mkdir -p "${bin}"
log "building ${BTCD_MODULE}@${BTCD_VERSION} into ${bin} (about a minute)"
# GOTOOLCHAIN=local: build with the installed Go, never download another.
GOBIN="${bin}" GOTOOLCHAIN=local go install "${BTCD_MODULE}@${BTCD_VERSION}"
echo "${BTCD_VERSION}" >"${stamp}"
log "installed $("${bin}/btcd" --version 2>&1 | head -n 1) at ${bin}/btcd"
