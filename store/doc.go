// Package store is the local replica's storage: a narrow, ordered byte
// key-value interface with atomic batches, implemented by Badger on disk
// (package store/badgerstore) and in memory (Memory, for tests and the wasm
// build).
//
// Keys are opaque bytes ordered lexicographically; the key schema every
// package uses is documented in docs/ARCHITECTURE.md and built with the
// helpers in keys.go. Values returned by Get and passed to iteration
// callbacks are owned by the caller (Get) or valid only during the callback
// (Iterate) as documented on each method.
//
// Usage:
//
//	s, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions()) // or store.NewMemory()
//	if err != nil { … }
//	defer s.Close()
//	if err := store.CheckSchema(ctx, s); err != nil { … } // Open already does this
//	err = s.Update(ctx, func(tx store.Txn) error {
//		if err := tx.Set(store.Key("cat", "track", id), trackCBOR); err != nil {
//			return err
//		}
//		return tx.Delete(store.Key("cat", "master", oldHash))
//	})
//	err = s.Iterate(ctx, store.Prefix("cat", "track"), false, func(k, v []byte) error {
//		… // k and v are valid only during the call
//		return nil
//	})
//
// Backends pass the conformance suite in package store/storetest.
package store
