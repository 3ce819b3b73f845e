#!/usr/bin/env bash
# Starts the local PostgreSQL cluster when it is installed but not running.
# The store's conformance suite needs it; without PostgreSQL the suite skips,
# except under CI=true, where it fails.
set -uo pipefail
if command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -p 5432 -q && exit 0
    sleep 0.5
  done
fi
echo "PostgreSQL is not reachable at 127.0.0.1:5432; its tests will skip (or fail under CI=true)" >&2
exit 0
