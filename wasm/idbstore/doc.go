// Package idbstore is a store.Store on the browser's IndexedDB, for the
// web player (GOOS=js only). It passes the same store/storetest
// conformance suite as Badger and Memory, run inside Chromium
// (TestIndexedDBConformance in server/web).
//
// Keys and values are binary (IndexedDB orders ArrayBuffer keys bytewise,
// as the Store contract requires). Writes — Set, Delete and Update — are
// serialized by one lock, and an Update's writes are buffered in Go and
// committed in one readwrite IndexedDB transaction, so they are applied
// all or none. Reads inside an Update see its own writes over the
// database. The lock is per Store value and, where the browser has the
// Web Locks API, also the Web Lock LockName(database), exclusive across
// the tabs and workers of the origin, held from an Update's first read to
// its commit: two tabs' Updates are not interleaved (one tab's append to
// the play queue reading the highest number issued while another's is
// between its read and its commit took one number twice).
//
// Iterate reads in chunks (64 entries, doubling up to 4,096), each in
// its own readonly transaction, so an iteration that stops early reads
// about what it visited, not the whole prefix; a write made during an
// iteration to a key it has not reached yet is seen.
package idbstore
