#!/usr/bin/env bash
# Builds the web player into server/web/dist, which the relay embeds and
# which is committed (so `go run ./cmd/segue demo` serves it on a fresh
# machine without a wasm toolchain step). Reproducible: the wasm is built
# with -trimpath and no VCS stamp, and server/web/gen writes hashed,
# precompressed files whose bytes depend only on the inputs.
# TestDistUpToDate (server/web) fails when dist is stale: run this script.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOOS=js GOARCH=wasm CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$tmp/segue.wasm" ./wasm/cmd/segueweb
go run ./server/web/gen -src wasm/web -wasm "$tmp/segue.wasm" -out server/web/dist
