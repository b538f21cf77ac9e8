package relaysync

import (
	"container/list"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// Defaults of WithPeerIDMemory: a gone peer id stays its account's for
// DefaultPeerIDWindow after its last connection ended, at most
// DefaultPeerIDsPerUser of them per account and DefaultPeerIDs in all.
// An entry holds a peer id (at most 256 bytes) and a user id, so the
// table takes at most ≈ 50 MiB.
const (
	DefaultPeerIDWindow   = 24 * time.Hour
	DefaultPeerIDsPerUser = 64
	DefaultPeerIDs        = 100_000
)

// WithPeerIDMemory bounds how the relay remembers which account a peer
// id belonged to once its connections are gone: for window after the
// last one ended, at most perUser ids per account (its oldest forgotten
// first) and max in all (the oldest forgotten first). A join under a
// remembered id of another account is refused (ErrPeerID), as one under
// a live connection's: a stock automerge-repo client keeps its random
// peer id across reconnects and every follower of a document it shares
// sees that id, so another account could otherwise take the id between
// two connections, speak to the followers under it, and hold it so
// that the owner's reconnects were refused. Values ≤ 0 keep the
// defaults, DefaultPeerIDWindow, DefaultPeerIDsPerUser and
// DefaultPeerIDs. The memory is not persisted: a restarted relay starts
// with none.
func (o Options) WithPeerIDMemory(window time.Duration, perUser, max int) Options {
	if window > 0 {
		o.peerWindow = window
	}
	if perUser > 0 {
		o.peerPerUser = perUser
	}
	if max > 0 {
		o.peerMax = max
	}
	return o
}

// goneEntry is a remembered peer id: the account it belonged to and when
// its last connection ended.
type goneEntry struct {
	id        string
	user      model.UserID
	at        time.Time
	all, mine *list.Element // in goneIDs.all and in its user's list
}

// goneIDs remembers the account of peer ids whose connections are gone,
// bounded as WithPeerIDMemory says. It is not safe for concurrent use
// (liveSet.mu guards it).
type goneIDs struct {
	window       time.Duration
	perUser, max int
	all          *list.List // of *goneEntry, most recently ended at the front
	byID         map[string]*goneEntry
	byUser       map[model.UserID]*list.List // of *goneEntry, most recent at the front
}

func newGoneIDs(window time.Duration, perUser, max int) *goneIDs {
	return &goneIDs{window: window, perUser: perUser, max: max, all: list.New(),
		byID: map[string]*goneEntry{}, byUser: map[model.UserID]*list.List{}}
}

// owner returns the account id was remembered for at now, if any.
func (g *goneIDs) owner(id string, now time.Time) (model.UserID, bool) {
	g.expire(now)
	e, ok := g.byID[id]
	if !ok {
		return "", false
	}
	return e.user, true
}

// remember records that user's last connection under id ended at now.
func (g *goneIDs) remember(id string, user model.UserID, now time.Time) {
	g.expire(now)
	if e, ok := g.byID[id]; ok {
		g.remove(e)
	}
	e := &goneEntry{id: id, user: user, at: now}
	mine := g.byUser[user]
	if mine == nil {
		mine = list.New()
		g.byUser[user] = mine
	}
	e.all, e.mine = g.all.PushFront(e), mine.PushFront(e)
	g.byID[id] = e
	for mine.Len() > g.perUser {
		g.remove(mine.Back().Value.(*goneEntry))
	}
	for g.all.Len() > g.max {
		g.remove(g.all.Back().Value.(*goneEntry))
	}
}

// expire forgets the ids whose last connection ended more than the
// window before now.
func (g *goneIDs) expire(now time.Time) {
	for el := g.all.Back(); el != nil; el = g.all.Back() {
		e := el.Value.(*goneEntry)
		if now.Sub(e.at) <= g.window {
			return
		}
		g.remove(e)
	}
}

func (g *goneIDs) remove(e *goneEntry) {
	delete(g.byID, e.id)
	g.all.Remove(e.all)
	mine := g.byUser[e.user]
	mine.Remove(e.mine)
	if mine.Len() == 0 {
		delete(g.byUser, e.user)
	}
}
