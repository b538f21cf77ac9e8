// Package interop holds the interoperability tests between Segue's Go sync
// stack and stock automerge-repo JavaScript clients. It has no library
// code: its tests start the Go relay sync endpoint on 127.0.0.1, drive a
// Node client (test.mjs) with @automerge/automerge-repo and its WebSocket
// network adapter, and edit the same playlist from a native Go device.
//
// The npm packages are installed by install.sh (called from
// scripts/install-test-deps.sh); node_modules is never committed.
package interop
