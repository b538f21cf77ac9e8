package social

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// actFlushDelay is how long the activity writer gathers latest
// activities before committing them in one transaction.
const actFlushDelay = 200 * time.Millisecond

// actWriter persists the latest activity per user behind the fan-out:
// Publish hands it the encoded record and returns, and a goroutine
// commits everything gathered during actFlushDelay in one store
// transaction (one fsync for ~11 publications at the benchmark's load
// instead of one each). A user's newer record replaces an older one not
// yet committed. Readers see pending records first (latest), so the feed
// never lags the streams. A crash loses at most the last flush delay of
// latest activities (friends then see the one before). Safe for
// concurrent use.
type actWriter struct {
	st  store.Store
	log *slog.Logger

	mu      sync.Mutex
	pending map[model.UserID][]byte
	running bool
	closed  bool
	idle    *sync.Cond // signalled when a flush ends and nothing is pending
}

func newActWriter(st store.Store, log *slog.Logger) *actWriter {
	w := &actWriter{st: st, log: log, pending: map[model.UserID][]byte{}}
	w.idle = sync.NewCond(&w.mu)
	return w
}

// put queues user's latest encoded activity (b is kept: the caller must
// not modify it).
func (w *actWriter) put(user model.UserID, b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending[user] = b
	if !w.running && !w.closed {
		w.running = true
		go w.loop()
	}
}

// get returns user's pending activity, if any.
func (w *actWriter) get(user model.UserID) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.pending[user]
	return b, ok
}

// drop forgets user's pending activity (the user hid activity).
func (w *actWriter) drop(user model.UserID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, user)
}

// loop flushes until nothing is pending.
func (w *actWriter) loop() {
	for {
		time.Sleep(actFlushDelay)
		w.mu.Lock()
		batch := w.pending
		if len(batch) == 0 {
			w.running = false
			w.idle.Broadcast()
			w.mu.Unlock()
			return
		}
		w.pending = map[model.UserID][]byte{}
		w.mu.Unlock()
		w.commit(batch)
	}
}

// commit writes batch in one transaction, skipping users who hide their
// activity (re-read inside it, so a concurrent hide wins).
func (w *actWriter) commit(batch map[model.UserID][]byte) {
	err := w.st.Update(context.Background(), func(tx store.Txn) error {
		for user, b := range batch {
			pb, err := tx.Get(profileKey(user))
			switch {
			case err == nil:
				var p profile
				if err := cborDec.Unmarshal(pb, &p); err != nil {
					return err
				}
				if p.HideActivity {
					continue
				}
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			if err := tx.Set(activityKey(user), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.log.Error("social: persist activities", "users", len(batch), "err", err)
	}
}

// close commits what is pending and waits for the writer to stop; later
// puts are kept in memory only.
func (w *actWriter) close() {
	w.mu.Lock()
	w.closed = true
	for w.running {
		w.idle.Wait()
	}
	batch := w.pending
	w.pending = map[model.UserID][]byte{}
	w.mu.Unlock()
	if len(batch) > 0 {
		w.commit(batch)
	}
}
