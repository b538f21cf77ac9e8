#!/usr/bin/env bash
# Builds SeaweedFS's `weed`, the S3-compatible server of
# server/blobstore/s3blob's tests, into $(go env GOPATH)/bin; does nothing
# when it is there. Its go.mod has replace directives, so
# `go install weed@version` is refused: the module is downloaded from the
# Go module proxy and built in place. On a 2-core machine the build costs
# about 18 CPU-minutes (docs/BENCHMARKS.md, S3 origin); scripts/test.sh runs
# it at the lowest priority beside the rest of the suite.
set -euo pipefail

gobin=$(go env GOPATH)/bin
if [ -x "$gobin/weed" ]; then
	exit 0
fi
echo "install-weed: build SeaweedFS weed (slow)"
weedmod=github.com/seaweedfs/seaweedfs@v0.0.0-20261109003541-7506e5f91cd6
weeddir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$weedmod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
mkdir -p "$gobin"
(cd "$weeddir" && go build -o "$gobin/weed.tmp.$$" ./weed)
mv "$gobin/weed.tmp.$$" "$gobin/weed"
echo "install-weed: ok"
