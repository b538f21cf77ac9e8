package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/sync/client"
)

// ErrActivityRefused is returned by WatchFriends when the relay refused
// the activity subscription (too many streams of the account, or in all).
var ErrActivityRefused = errors.New("core: friend activity refused by the relay")

// errNoSyncActivity: the relay connection gave no activity snapshot in
// time (a relay that does not deliver activity on the sync connection);
// WatchFriends falls back to the SSE stream.
var errNoSyncActivity = errors.New("core: no activity on the sync connection")

// syncSnapshotWait is how long WatchFriends waits, while connected, for
// the relay's answer to the subscription before using the SSE stream.
const syncSnapshotWait = 10 * time.Second

// maxQueuedActivity bounds the activities received on the sync
// connection and not yet handed to WatchFriends' callback (the oldest are
// dropped beyond).
const maxQueuedActivity = 4096

// activityDec decodes api.ActivityItem values from the relay.
var activityDec = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 64, MaxMapPairs: 16}.StrictDecMode()

// syncClient returns the relay client of an open Docs whose sync runs,
// and a channel closed when that sync stops; nil when there is none.
func (e *Engine) syncClient() (*client.Client, <-chan struct{}) {
	e.mu.Lock()
	ds := make([]*Docs, 0, len(e.docs))
	for d := range e.docs {
		ds = append(ds, d)
	}
	e.mu.Unlock()
	for _, d := range ds {
		d.mu.Lock()
		c, done := d.client, d.done
		d.mu.Unlock()
		if c != nil {
			return c, done
		}
	}
	return nil, nil
}

// activityQueue hands events from the sync session's goroutine (which
// must not block) to WatchFriends' goroutine.
type activityQueue struct {
	mu      sync.Mutex
	events  []client.ActivityEvent
	items   int // activities in events
	dropped int
	ready   chan struct{}
}

func (q *activityQueue) put(ev client.ActivityEvent) {
	q.mu.Lock()
	q.events = append(q.events, ev)
	q.items += len(ev.Batch.Items)
	for q.items > maxQueuedActivity && len(q.events) > 1 {
		q.items -= len(q.events[0].Batch.Items)
		q.dropped += len(q.events[0].Batch.Items)
		q.events = q.events[1:]
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *activityQueue) take() ([]client.ActivityEvent, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out, d := q.events, q.dropped
	q.events, q.items, q.dropped = nil, 0, 0
	return out, d
}

// watchSync delivers friend activity from the sync connection of c (see
// WatchFriends) until ctx ends (nil), sync stops (done), the relay
// refuses (ErrActivityRefused) or sends something malformed. It returns
// errNoSyncActivity when the relay, while connected, does not answer the
// subscription within syncSnapshotWait.
func (e *Engine) watchSync(ctx context.Context, c *client.Client, done <-chan struct{}, fn func(api.Activity)) error {
	q := &activityQueue{ready: make(chan struct{}, 1)}
	cancel := c.WatchActivity(q.put)
	defer cancel()
	answered := false
	wait := time.NewTimer(syncSnapshotWait)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return fmt.Errorf("core: friend activity: %w", client.ErrDisconnected)
		case <-wait.C:
			if answered {
				continue
			}
			if c.Status().Connected {
				return errNoSyncActivity
			}
			wait.Reset(syncSnapshotWait) // offline: it subscribes on reconnecting
		case <-q.ready:
			events, dropped := q.take()
			if dropped > 0 {
				e.log.Warn("core: friend activity read too slowly; dropped", "activities", dropped)
			}
			for _, ev := range events {
				if ev.Refused != "" {
					return fmt.Errorf("%w: %s", ErrActivityRefused, ev.Refused)
				}
				answered = true
				if ev.Batch.Dropped > 0 {
					e.log.Warn("core: the relay dropped friend activity for this device (read too slowly)", "activities", ev.Batch.Dropped)
				}
				for _, raw := range ev.Batch.Items {
					var it api.ActivityItem
					if err := activityDec.Unmarshal(raw, &it); err != nil {
						return fmt.Errorf("%w: activity item: %w", ErrBadResponse, err)
					}
					if it.User == "" || it.Track == "" {
						return fmt.Errorf("%w: activity item without user or track", ErrBadResponse)
					}
					fn(it.Activity())
				}
			}
		}
	}
}
