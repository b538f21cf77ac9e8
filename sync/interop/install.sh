#!/usr/bin/env bash
# Installs the npm packages of the automerge-repo interop test into
# sync/interop/node_modules at the versions locked in package-lock.json.
# Idempotent: does nothing when node_modules matches the lock file.
#
# `npm ci` would be the natural command, but cbor-x's optional native
# accelerator (cbor-extract) lists platform packages that the reachable
# registry does not serve, so the lock file cannot name them and npm ci
# rejects it as out of sync. `npm install --no-save` installs the same
# locked versions without rewriting the lock; install scripts are skipped
# because the only one builds that optional accelerator (cbor-x falls
# back to pure JS).
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.segue-lock.sha256
want=$(sha256sum package-lock.json package.json | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
echo "sync/interop: npm install (locked versions)"
npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
