package relaysync

import (
	"net/http"
	"strconv"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// Default bounds on the connections an endpoint serves. DefaultMaxSessions
// leaves a quarter of the relay's default 16,384 open connections
// (relay.Options.WithMaxConns) to HTTP requests, so sync sessions alone
// cannot hold every connection slot; DefaultMaxUserSessions is far above
// what one user's devices and browser tabs open, and far below the total,
// so no one account takes every session.
const (
	DefaultMaxSessions     = 12288
	DefaultMaxUserSessions = 256
)

// DefaultHandshakeTimeout is how long, by default, an upgraded connection
// has to send its join message before the relay closes it.
const DefaultHandshakeTimeout = 10 * time.Second

// sessionRetryAfter is the Retry-After of a connection refused by
// WithMaxSessions: long enough that a refused client does not hammer the
// relay, short enough that it gets back in soon after room is made.
const sessionRetryAfter = 10 * time.Second

// WithMaxSessions caps the connections the endpoint serves at once:
// total across all users and perUser for one user, counted from the
// upgrade (a connection still in its handshake counts) to its close. A
// connection past total is refused before the upgrade with 503 Service
// Unavailable, past perUser with 429 Too Many Requests, both with
// Retry-After: 10; the refused client retries with its backoff. A value
// ≤ 0 removes that cap. Default DefaultMaxSessions, DefaultMaxUserSessions.
func (o Options) WithMaxSessions(total, perUser int) Options {
	o.maxSessions, o.maxUserSessions = max(total, 0), max(perUser, 0)
	return o
}

// WithHandshakeTimeout bounds how long an upgraded connection may take to
// send its join message; one that has not by then is closed (a peer that
// upgrades and stays silent would otherwise hold its connection and
// goroutines for good). d ≤ 0 keeps the default, DefaultHandshakeTimeout.
func (o Options) WithHandshakeTimeout(d time.Duration) Options {
	if d > 0 {
		o.handshake = d
	}
	return o
}

// Slots is a budget of connections the endpoint shares with other
// long-lived connections of the embedding server (the relay's activity
// streams): TryAcquire takes one, reporting false when none is left,
// Release gives it back, and Full reports whether none is left now
// (taking none). Safe for concurrent use.
type Slots interface {
	TryAcquire() bool
	Release()
	Full() bool
}

// WithSlots makes every connection also take one of slots, from the
// upgrade to its close, on top of WithMaxSessions; a connection that
// finds none left is refused before the upgrade with 503 Service
// Unavailable and Retry-After: 10. nil (the default) shares no budget.
func (o Options) WithSlots(slots Slots) Options { o.slots = slots; return o }

// Sessions returns how many connections the endpoint serves (or is
// upgrading) at once, the count WithMaxSessions bounds.
func (e *Endpoint) Sessions() int { return int(e.open.Load()) }

// Refusals of WithMaxSessions and WithSlots, before their wait.
const (
	msgTooMany   = "relaysync: too many sync connections"
	msgLongLived = "relaysync: too many long-lived connections"
)

// msgUserTooMany is the refusal of a user past WithMaxSessions' perUser.
func msgUserTooMany(n int) string {
	return "relaysync: at most " + strconv.Itoa(n) + " sync connections per user"
}

// admit reserves a session of user under WithMaxSessions; when it cannot,
// it answers w (503 or 429 with Retry-After) and reports false. A
// reservation is given back with release.
func (e *Endpoint) admit(w http.ResponseWriter, user model.UserID) bool {
	if n := e.open.Add(1); e.opts.maxSessions > 0 && n > int64(e.opts.maxSessions) {
		e.open.Add(-1)
		e.refuse(w, http.StatusServiceUnavailable, msgTooMany)
		return false
	}
	if e.opts.maxUserSessions > 0 {
		e.mu.Lock()
		n := e.perUser[user]
		if n >= e.opts.maxUserSessions {
			e.mu.Unlock()
			e.open.Add(-1)
			e.refuse(w, http.StatusTooManyRequests, msgUserTooMany(e.opts.maxUserSessions))
			return false
		}
		e.perUser[user] = n + 1
		e.mu.Unlock()
	}
	if e.opts.slots != nil && !e.opts.slots.TryAcquire() {
		e.releaseSession(user)
		e.refuse(w, http.StatusServiceUnavailable, msgLongLived)
		return false
	}
	return true
}

// Refuses reports whether a connection of user would be refused now
// under WithMaxSessions or WithSlots and, when it would, answers w as
// that connection would be answered (503 or 429 with Retry-After: 10).
// It takes nothing and counts no refusal. A browser's WebSocket shows the
// page nothing of a refused upgrade, neither its status nor its
// Retry-After, so the web player asks with a plain request after a
// socket failed (server/relay answers GET /v1/sync without an upgrade
// with it).
func (e *Endpoint) Refuses(w http.ResponseWriter, user model.UserID) bool {
	status, msg := 0, ""
	e.mu.Lock()
	perUser := e.perUser[user]
	e.mu.Unlock()
	switch {
	case e.opts.maxSessions > 0 && e.open.Load() >= int64(e.opts.maxSessions):
		status, msg = http.StatusServiceUnavailable, msgTooMany
	case e.opts.maxUserSessions > 0 && perUser >= e.opts.maxUserSessions:
		status, msg = http.StatusTooManyRequests, msgUserTooMany(e.opts.maxUserSessions)
	case e.opts.slots != nil && e.opts.slots.Full():
		status, msg = http.StatusServiceUnavailable, msgLongLived
	default:
		return false
	}
	writeError(w, status, msg, sessionRetryAfter)
	return true
}

// release gives back a reservation of admit.
func (e *Endpoint) release(user model.UserID) {
	if e.opts.slots != nil {
		e.opts.slots.Release()
	}
	e.releaseSession(user)
}

// releaseSession gives back the WithMaxSessions part of a reservation.
func (e *Endpoint) releaseSession(user model.UserID) {
	e.open.Add(-1)
	if e.opts.maxUserSessions <= 0 {
		return
	}
	e.mu.Lock()
	if n := e.perUser[user] - 1; n > 0 {
		e.perUser[user] = n
	} else {
		delete(e.perUser, user)
	}
	e.mu.Unlock()
}

// refuse answers a connection WithMaxSessions refuses: status, with
// Retry-After and msg followed by the same wait.
func (e *Endpoint) refuse(w http.ResponseWriter, status int, msg string) {
	e.refused.Add(1)
	writeError(w, status, msg, sessionRetryAfter)
}

// Refused returns how many connections WithMaxSessions has refused.
func (e *Endpoint) Refused() uint64 { return e.refused.Load() }
