package events_test

import (
	"context"
	"testing"

	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/events/eventstest"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// TestStoreLogBadger runs the conformance suite on the relay's embedded
// backend, on a real Badger directory (reopened from disk in Reopen).
func TestStoreLogBadger(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) (events.Log, func() events.Log) {
		dir := t.TempDir()
		open := func() *badgerstore.Store {
			st, err := badgerstore.Open(context.Background(), dir, badgerstore.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		st := open()
		cur := st
		t.Cleanup(func() { cur.Close() })
		return events.NewStoreLog(st), func() events.Log {
			if err := cur.Close(); err != nil {
				t.Fatal(err)
			}
			cur = open()
			return events.NewStoreLog(cur)
		}
	})
}

// TestStoreLogMemory runs the suite on store.Memory, the pure-test fake.
func TestStoreLogMemory(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) (events.Log, func() events.Log) {
		return events.NewStoreLog(store.NewMemory()), nil
	})
}
