// Package playlog is a device's play history as both engines keep and
// upload it: the native engine (package core) and the web player's
// (wasm/engine). Queue is the durable, append-only queue of play events
// in a store.Store under hist/<u64 big-endian seq>; Upload sends it to
// the relay (POST /v1/plays) in signed batches of at most MaxBatch
// events and acknowledges each batch only after the relay answered for
// every event of it. Sequence numbers are the relay's de-duplication key
// (device, seq), so an upload repeated after a lost answer, a closed tab
// or a crash counts nothing twice.
package playlog
