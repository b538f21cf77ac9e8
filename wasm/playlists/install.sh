#!/usr/bin/env bash
# Installs the playlists bundle's npm packages (esbuild, automerge-repo and
# its adapters) into wasm/playlists/node_modules at the versions locked in
# package-lock.json. Idempotent: does nothing when node_modules matches the
# lock. Install scripts are skipped, as in sync/interop/install.sh (cbor-x's
# optional native accelerator; esbuild finds its binary in the locked
# @esbuild/<platform> package without its postinstall).
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.segue-lock.sha256
want=$(sha256sum package-lock.json package.json | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
echo "wasm/playlists: npm install (locked versions)" >&2
npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error >&2
echo "$want" >"$stamp"
