#!/usr/bin/env bash
# Installs everything Segue's tests need, idempotently: Debian packages
# (libvorbis tools as decoder oracles, ffmpeg, flac, sox, headers for the
# libvorbisfile float oracle, iproute2 for network-namespace tests), the
# wazero runtime for the wasip1 test run, and the npm packages of the
# automerge-repo interop test; chromium for the web player's browser tests
# (internal/browsertest). Safe to run again; does nothing when all is
# present.
set -euo pipefail

need_apt=()
for pair in oggenc:vorbis-tools oggdec:vorbis-tools ogginfo:vorbis-tools ffmpeg:ffmpeg flac:flac sox:sox ip:iproute2 gcc:gcc node:nodejs npm:npm chromium:chromium; do
	tool=${pair%%:*} pkg=${pair##*:}
	command -v "$tool" >/dev/null 2>&1 || need_apt+=("$pkg")
done
for hdr in vorbis/vorbisfile.h:libvorbis-dev ogg/ogg.h:libogg-dev alsa/asoundlib.h:libasound2-dev; do
	h=${hdr%%:*} pkg=${hdr##*:}
	[ -e "/usr/include/$h" ] || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "install-test-deps: apt-get install ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi

gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/wazero" ]; then
	echo "install-test-deps: go install wazero"
	go install github.com/tetratelabs/wazero/cmd/wazero@v1.12.0
fi

# SeaweedFS for the S3 blob-store tests (slow to build; scripts/test.sh
# builds it in the background instead and sets SEGUE_SKIP_WEED=1).
if [ -z "${SEGUE_SKIP_WEED:-}" ]; then
	bash "$(dirname "$0")/install-weed.sh"
fi

here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/sync/interop/install.sh" ]; then
	bash "$here/sync/interop/install.sh"
fi
# esbuild and automerge-repo for the web player's playlists bundle
# (TestDistUpToDate rebuilds it).
if [ -f "$here/wasm/playlists/install.sh" ]; then
	bash "$here/wasm/playlists/install.sh"
fi
echo "install-test-deps: ok"
