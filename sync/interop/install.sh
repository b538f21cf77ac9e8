#!/usr/bin/env bash
# Installs the npm packages of the automerge-repo interop test into
# sync/interop/node_modules, exactly as locked in package-lock.json.
# Idempotent: does nothing when node_modules matches the lock file.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.segue-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
echo "sync/interop: npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
