#!/usr/bin/env bash
# Runs every Segue test: installs the test tools (idempotent), checks
# formatting and vet, runs the native test suite (SeaweedFS builds beside it
# for the S3 blob-store test, which runs last), then the pure-Go packages
# again under GOOS=wasip1 (wazero) and GOOS=js (node).
set -euo pipefail
cd "$(dirname "$0")/.."

SEGUE_SKIP_WEED=1 bash scripts/install-test-deps.sh
export PATH="$PATH:$(go env GOPATH)/bin"
export CGO_ENABLED=1

# SeaweedFS (the S3 server of server/blobstore/s3blob's tests and of
# cmd/segue's TestRelayOnS3) takes many CPU-minutes to build: build it at
# the lowest priority while the rest of the suite runs, and run those tests
# once it is there.
weedlog=$(mktemp)
setsid -w nice -n 19 bash scripts/install-weed.sh >"$weedlog" 2>&1 &
weedpid=$!
trap 'kill -- -"$weedpid" 2>/dev/null || true' EXIT

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...
go vet -tags alsa ./player/alsa/

go test -timeout 25m -count=1 -skip '^TestRelayOnS3$' $(go list ./... | grep -v '/server/blobstore/s3blob$')
if ! wait "$weedpid"; then
	cat "$weedlog"; echo "building SeaweedFS weed failed"; exit 1
fi
go test -count=1 ./server/blobstore/s3blob/
go test -count=1 -run '^TestRelayOnS3$' ./cmd/segue/
# The ALSA device sink is behind a build tag (it links libasound); its tests use the "null" PCM.
go test -tags alsa -count=1 ./player/alsa/

# The decoder and container run in the browser and under WASI: test them there.
wasm_pkgs=(./player/ogg ./player/vorbis ./player/wav)
GOWASIRUNTIME=wazero GOOS=wasip1 GOARCH=wasm go test -count=1 -exec "$(go env GOROOT)/lib/wasm/go_wasip1_wasm_exec" "${wasm_pkgs[@]}"
GOOS=js GOARCH=wasm go test -count=1 -exec "$(go env GOROOT)/lib/wasm/go_js_wasm_exec" "${wasm_pkgs[@]}"
