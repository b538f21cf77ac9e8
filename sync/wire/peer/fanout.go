package peer

import (
	"slices"
	"sync"

	"github.com/segue-fm/segue/sync/docs"
)

// Fanout routes a Repo's change notifications to the sessions that follow
// each document, so that a change wakes only its followers instead of
// every session (a relay holds thousands of sessions, each following a
// handful of documents). It keeps one Repo.Watch while at least one
// session is registered and an index document → following sessions;
// sessions with FollowAll are woken for every change.
//
// Sessions sharing one Repo share one Fanout (set Session.Fanout); a
// session registers when Run starts, adds each document it comes to
// follow (synced, requested or offered), and is removed when Run
// returns. All methods are safe for concurrent use. The zero value is not
// usable; call NewFanout.
type Fanout struct {
	repo Repo

	mu sync.Mutex
	// followers holds the followers of a document with at most
	// maxFewFollowers of them (most documents have one or two: a slice
	// costs a few words where a set costs a hash table), crowds those
	// of a document with more; a document is in at most one of them.
	followers map[docs.DocumentID][]*Session
	crowds    map[docs.DocumentID]map[*Session]struct{}
	sessions  map[*Session][]docs.DocumentID // registered → documents indexed for it
	all       map[*Session]struct{}          // FollowAll sessions
	cancel    func()                         // the Repo watch; nil when no session is registered
	notified  uint64                         // session notifications delivered (Notified)
}

// maxFewFollowers is the most followers a document's slice holds (a
// linear scan); the next one moves them to a set in Fanout.crowds.
const maxFewFollowers = 8

// NewFanout returns a Fanout over r. It watches r only while sessions are
// registered, so it needs no Close.
func NewFanout(r Repo) *Fanout {
	return &Fanout{
		repo:      r,
		followers: map[docs.DocumentID][]*Session{},
		crowds:    map[docs.DocumentID]map[*Session]struct{}{},
		sessions:  map[*Session][]docs.DocumentID{},
		all:       map[*Session]struct{}{},
	}
}

// add registers s (at the start of Run) and returns the function that
// removes it. The first registration starts the Repo watch.
func (f *Fanout) add(s *Session) (remove func()) {
	f.mu.Lock()
	f.sessions[s] = nil
	if s.FollowAll {
		f.all[s] = struct{}{}
	}
	if f.cancel == nil {
		f.cancel = f.repo.Watch(f.changed)
	}
	f.mu.Unlock()
	return func() { f.remove(s) }
}

// remove drops s and its index entries; the last removal stops the Repo
// watch (outside the lock: the watch callback takes it).
func (f *Fanout) remove(s *Session) {
	f.mu.Lock()
	for _, id := range f.sessions[s] {
		f.unfollow(s, id)
	}
	delete(f.sessions, s)
	delete(f.all, s)
	var stop func()
	if len(f.sessions) == 0 {
		stop, f.cancel = f.cancel, nil
	}
	f.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// follow indexes id for s; it does nothing for a session that is not
// registered (not running, or already removed).
func (f *Fanout) follow(s *Session, id docs.DocumentID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids, ok := f.sessions[s]
	if !ok || f.followsLocked(s, id) {
		return
	}
	f.sessions[s] = append(ids, id)
	if set := f.crowds[id]; set != nil {
		set[s] = struct{}{}
		return
	}
	few := f.followers[id]
	if len(few) < maxFewFollowers {
		f.followers[id] = append(few, s)
		return
	}
	set := make(map[*Session]struct{}, len(few)+1)
	for _, o := range few {
		set[o] = struct{}{}
	}
	set[s] = struct{}{}
	f.crowds[id] = set
	delete(f.followers, id)
}

// unfollow drops s from id's followers. f.mu is held.
func (f *Fanout) unfollow(s *Session, id docs.DocumentID) {
	if set := f.crowds[id]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(f.crowds, id)
		}
		return
	}
	few := f.followers[id]
	if i := slices.Index(few, s); i >= 0 {
		few = slices.Delete(few, i, i+1)
	}
	if len(few) == 0 {
		delete(f.followers, id)
	} else {
		f.followers[id] = few
	}
}

// followsLocked reports whether s is indexed as a follower of id. f.mu
// is held.
func (f *Fanout) followsLocked(s *Session, id docs.DocumentID) bool {
	if set := f.crowds[id]; set != nil {
		_, ok := set[s]
		return ok
	}
	return slices.Contains(f.followers[id], s)
}

// eachFollowerLocked calls fn for every follower of id. f.mu is held.
func (f *Fanout) eachFollowerLocked(id docs.DocumentID, fn func(s *Session)) {
	for _, s := range f.followers[id] {
		fn(s)
	}
	for s := range f.crowds[id] {
		fn(s)
	}
}

// changed is the Repo watch callback: it notifies the followers of id
// and the FollowAll sessions (markDirty does not block).
func (f *Fanout) changed(id docs.DocumentID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eachFollowerLocked(id, func(s *Session) {
		s.markDirty(id)
		f.notified++
	})
	for s := range f.all {
		if !f.followsLocked(s, id) {
			s.markDirty(id)
			f.notified++
		}
	}
}

// Followers returns the running sessions that follow id (not counting
// FollowAll sessions that never touched it), in no particular order.
// The slice is the caller's.
func (f *Fanout) Followers(id docs.DocumentID) []*Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*Session, 0, len(f.followers[id])+len(f.crowds[id]))
	f.eachFollowerLocked(id, func(s *Session) { out = append(out, s) })
	return out
}

// Sessions returns the number of registered (running) sessions.
func (f *Fanout) Sessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

// Notified returns how many change notifications the Fanout has
// delivered to sessions since it was created: the wake-ups a change
// costs, at most one per follower.
func (f *Fanout) Notified() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notified
}
