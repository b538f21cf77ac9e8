//go:build js && wasm

package idbstore

// EntriesRead returns how many entries s's iterations have read from the
// database so far.
func (s *Store) EntriesRead() int64 { return s.read.Load() }

// WithoutWebLock makes s's Updates take no Web Lock.
func (s *Store) WithoutWebLock() { s.noWebLock = true }
