// Package interop holds the interoperability tests between Segue's Go sync
// stack and stock automerge-repo JavaScript clients. It has no library
// code: its tests start the Go relay sync endpoint on 127.0.0.1, drive a
// Node client (test.mjs) with @automerge/automerge-repo and its WebSocket
// network adapter, and edit the same playlist from a native Go device.
// BenchmarkEngineWorkload runs one 10,000-entry edit/merge/load workload
// with automerge-go and, through engine-bench.mjs, with the locked
// @automerge/automerge (docs/BENCHMARKS.md "Automerge engine").
//
// The npm packages are installed by install.sh (called from
// scripts/install-test-deps.sh); node_modules is never committed.
package interop
