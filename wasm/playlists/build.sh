#!/usr/bin/env bash
# Bundles the web player's playlists module (src/playlists.js: stock
# automerge-repo with its IndexedDB and WebSocket adapters) with the
# pinned esbuild from package-lock.json into $1/playlists.js, and copies
# Automerge's wasm next to it as $1/automerge.wasm. The output depends only
# on the locked packages and the source (esbuild is deterministic; no
# source maps, no legal comments, no timestamps). scripts/build-web.sh
# runs it; TestDistUpToDate (server/web) runs it to check dist.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
./install.sh
node_modules/.bin/esbuild src/playlists.js --bundle --format=iife --platform=browser \
	--target=es2022 --minify --legal-comments=none --charset=utf8 --log-level=warning \
	--outfile="$out/playlists.js"
cp node_modules/@automerge/automerge/dist/automerge.wasm "$out/automerge.wasm"
