package relaysync

import (
	"container/list"
	"time"
)

// dedup remembers the highest ephemeral count per (sender, session) for
// a bounded time and number of pairs, least recently seen first out. It
// is not safe for concurrent use (the Endpoint holds its lock).
type dedup struct {
	window time.Duration
	max    int
	order  *list.List // of *seenEntry, most recently seen at the front
	byKey  map[string]*list.Element
}

type seenEntry struct {
	key   string
	count uint64
	at    time.Time
}

func newDedup(window time.Duration, max int) *dedup {
	return &dedup{window: window, max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

// fresh reports whether count is new for key (greater than any count
// remembered) and records it as seen at now.
func (d *dedup) fresh(key string, count uint64, now time.Time) bool {
	d.expire(now)
	if el, ok := d.byKey[key]; ok {
		e := el.Value.(*seenEntry)
		if count <= e.count {
			return false
		}
		e.count, e.at = count, now
		d.order.MoveToFront(el)
		return true
	}
	d.byKey[key] = d.order.PushFront(&seenEntry{key: key, count: count, at: now})
	for d.order.Len() > d.max {
		d.remove(d.order.Back())
	}
	return true
}

// expire drops the pairs last seen more than the window before now.
func (d *dedup) expire(now time.Time) {
	for el := d.order.Back(); el != nil; el = d.order.Back() {
		if now.Sub(el.Value.(*seenEntry).at) <= d.window {
			return
		}
		d.remove(el)
	}
}

func (d *dedup) remove(el *list.Element) {
	delete(d.byKey, el.Value.(*seenEntry).key)
	d.order.Remove(el)
}

func (d *dedup) len() int { return d.order.Len() }
