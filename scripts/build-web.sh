#!/usr/bin/env bash
# Builds the web player into server/web/dist, which the relay embeds and
# which is committed (so `go run ./cmd/segue demo` serves it on a fresh
# machine without a wasm toolchain step). Reproducible: the wasm is built
# with -trimpath and no VCS stamp, and server/web/gen writes hashed,
# precompressed files whose bytes depend only on the inputs.
# The playlists module is bundled by wasm/playlists/build.sh (esbuild and
# automerge-repo from npm, pinned by its package-lock.json). Assets whose
# hashed files dist already holds are not recompressed, so a change to the
# page's scripts takes seconds, not the minutes brotli 11 spends on the
# wasm modules.
# TestDistUpToDate (server/web) fails when dist is stale: run this script.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOOS=js GOARCH=wasm CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$tmp/segue.wasm" ./wasm/cmd/segueweb
bash wasm/playlists/build.sh "$tmp/bundle"
go run ./server/web/gen -src wasm/web -wasm "$tmp/segue.wasm" -bundle "$tmp/bundle" -out server/web/dist
