package edgetrace

import (
	"container/heap"
	"container/list"
	"math"
)

// Result counts a replay: requests and bytes, and how many were hits.
type Result struct {
	Requests, Hits  int64
	Bytes, HitBytes int64
}

// ByteHitRatio returns HitBytes / Bytes (0 for an empty replay).
func (r Result) ByteHitRatio() float64 {
	if r.Bytes == 0 {
		return 0
	}
	return float64(r.HitBytes) / float64(r.Bytes)
}

// HitRatio returns Hits / Requests (0 for an empty replay).
func (r Result) HitRatio() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Hits) / float64(r.Requests)
}

func (r *Result) count(req Request, hit bool) {
	r.Requests++
	r.Bytes += req.Size
	if hit {
		r.Hits++
		r.HitBytes += req.Size
	}
}

// Cache is a cache policy under test: Get reports a hit (and records the
// access), Add offers an object after a miss (the policy may refuse it).
type Cache interface {
	Get(key uint64) bool
	Add(key uint64, size int64)
}

// Replay runs reqs against c.
func Replay(reqs []Request, c Cache) Result {
	var r Result
	for _, q := range reqs {
		hit := c.Get(q.Key)
		r.count(q, hit)
		if !hit {
			c.Add(q.Key, q.Size)
		}
	}
	return r
}

// LRU replays reqs against a least-recently-used cache of capacity bytes
// that admits every object that fits.
func LRU(reqs []Request, capacity int64) Result {
	type ent struct {
		key  uint64
		size int64
	}
	var (
		r    Result
		used int64
		l    = list.New()
		m    = make(map[uint64]*list.Element)
	)
	for _, q := range reqs {
		if e, ok := m[q.Key]; ok {
			l.MoveToFront(e)
			r.count(q, true)
			continue
		}
		r.count(q, false)
		if q.Size > capacity {
			continue
		}
		for used+q.Size > capacity {
			e := l.Back()
			v := l.Remove(e).(ent)
			delete(m, v.key)
			used -= v.size
		}
		m[q.Key] = l.PushFront(ent{q.Key, q.Size})
		used += q.Size
	}
	return r
}

// never is the next use of an object not requested again.
const never = math.MaxInt

// nextUses returns, for each request, the index of the next request for
// the same object (never if none).
func nextUses(reqs []Request) []int {
	next := make([]int, len(reqs))
	last := make(map[uint64]int)
	for i := len(reqs) - 1; i >= 0; i-- {
		if j, ok := last[reqs[i].Key]; ok {
			next[i] = j
		} else {
			next[i] = never
		}
		last[reqs[i].Key] = i
	}
	return next
}

// use is a cached object's next use.
type use struct {
	next int
	key  uint64
}

// useHeap is a max-heap of uses; entries whose next use is no longer the
// object's are stale and skipped.
type useHeap []use

func (h useHeap) Len() int           { return len(h) }
func (h useHeap) Less(i, j int) bool { return h[i].next > h[j].next }
func (h useHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *useHeap) Push(x any) {
	*h = append(*h, x.(use))
}
func (h *useHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Belady replays reqs against the offline policy that knows the future:
// on a miss it evicts the cached objects whose next use is furthest away,
// and does not admit the new object when it is itself needed later than
// every object it would displace (or never again). With variable object
// sizes this furthest-next-use rule is the usual approximation of the
// byte-optimal policy (which is NP-hard), not an exact upper bound.
func Belady(reqs []Request, capacity int64) Result {
	next := nextUses(reqs)
	var (
		r      Result
		used   int64
		h      useHeap
		cached = make(map[uint64]int) // key → its next use
		sizes  = make(map[uint64]int64)
	)
	for i, q := range reqs {
		if _, ok := cached[q.Key]; ok {
			r.count(q, true)
			if next[i] == never {
				delete(cached, q.Key)
				used -= sizes[q.Key]
				continue
			}
			cached[q.Key] = next[i]
			heap.Push(&h, use{next[i], q.Key})
			continue
		}
		r.count(q, false)
		if next[i] == never || q.Size > capacity {
			continue
		}
		for used+q.Size > capacity && h.Len() > 0 {
			top := h[0]
			if n, ok := cached[top.key]; !ok || n != top.next {
				heap.Pop(&h)
				continue
			}
			if top.next < next[i] {
				break
			}
			heap.Pop(&h)
			delete(cached, top.key)
			used -= sizes[top.key]
		}
		if used+q.Size > capacity {
			continue
		}
		cached[q.Key] = next[i]
		sizes[q.Key] = q.Size
		used += q.Size
		heap.Push(&h, use{next[i], q.Key})
	}
	return r
}
