// Package badgerstore is the on-disk store.Store: Badger v4, durable by
// default (every commit is fsynced), with the schema version checked at
// Open.
//
//	s, err := badgerstore.Open(ctx, filepath.Join(dataDir, "db"), badgerstore.DefaultOptions())
//	if errors.Is(err, store.ErrSchemaTooNew) {
//		// the data dir was written by a newer Segue; refuse to touch it
//	}
//	defer s.Close()
//	_ = s.RunGC(ctx) // when idle
//
// Transactions are Badger's optimistic, serializable transactions; Update
// re-runs its function on a conflict. A transaction larger than Badger can
// commit at once fails with store.ErrTxnTooBig and applies nothing.
package badgerstore
