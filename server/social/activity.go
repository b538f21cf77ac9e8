package social

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
)

// Errors of activity streams.
var (
	// ErrStreamsFull: the relay holds as many activity streams as allowed
	// (503), or it is shutting down.
	ErrStreamsFull = fmt.Errorf("social: too many activity streams: %w", relay.ErrBusy)
	// ErrUserStreams: the caller holds as many activity streams as
	// allowed per user (429).
	ErrUserStreams = fmt.Errorf("social: too many activity streams of yours: %w", relay.ErrTooManyRequests)
	// ErrBadActivity: an activity naming no track, an unknown context
	// kind or an oversized id (400).
	ErrBadActivity = fmt.Errorf("social: bad activity: %w", relay.ErrBadRequest)
)

// maxContextID bounds a play context's id in bytes.
const maxContextID = 128

// activityRecord is the value at soc/act/<user>: the user's latest
// activity, with the track's title and artists as they were published.
type activityRecord struct {
	Track   model.TrackID `cbor:"1,keyasint"`
	Title   string        `cbor:"2,keyasint"`
	Artists []string      `cbor:"3,keyasint"`
	Kind    string        `cbor:"4,keyasint,omitempty"`
	ID      string        `cbor:"5,keyasint,omitempty"`
	At      int64         `cbor:"6,keyasint"` // Unix ms, relay clock
	Playing bool          `cbor:"7,keyasint,omitempty"`
}

func (r activityRecord) api(user model.UserID, display string) api.Activity {
	return api.Activity{
		User: user, DisplayName: cmp.Or(display, string(user)), Track: r.Track, Title: r.Title,
		Artists: r.Artists, Context: model.PlayContext{Kind: r.Kind, ID: r.ID},
		At: time.UnixMilli(r.At).UTC(), Playing: r.Playing,
	}
}

// hub holds the open activity streams by user: SSE streams (*sub) and
// sync connections that subscribed (wsSink). Safe for concurrent use.
//
// send hands the shared, pre-encoded event to each stream. An SSE stream
// appends its frame to its pending list and wakes its handler, which
// writes everything pending and flushes once; with flushEvery > 0 the
// wake-ups are coalesced in time instead: one ticker wakes, every
// flushEvery, the handlers of the streams that got something. A sync
// connection queues it on its relaysync.ActivityOutbox, whose writer
// sends everything pending as one WebSocket message.
type hub struct {
	max, perUser, buf int
	flushEvery        time.Duration // 0: wake a stream's handler at once

	mu     sync.Mutex
	closed bool
	total  int
	subs   map[model.UserID]map[sink]struct{}
	done   chan struct{} // closed by close
	sent   atomic.Uint64
	drops  atomic.Uint64

	dmu   sync.Mutex
	dirty []*sub // streams with pending events since the last tick
}

// sink is one open stream of a user.
type sink interface {
	// push queues msg without blocking and reports whether an older
	// event was dropped to make room.
	push(h *hub, msg queued) (dropped bool)
}

// wsSink is a sync connection subscribed to activity.
type wsSink struct{ out *relaysync.ActivityOutbox }

func (w wsSink) push(_ *hub, msg queued) bool { return w.out.Push(msg.act) }

// sub is one open SSE stream: events waiting to be written.
type sub struct {
	wake    chan struct{} // capacity 1: the handler has something to take
	device  model.DeviceID
	revoked chan struct{} // closed (under hub.mu) when device is deregistered
	mu      sync.Mutex
	pending []queued
	dirty   bool // pending is non-empty and the stream is due a wake-up
}

// take returns the pending events and leaves spare (emptied) in their
// place, so the handler and send alternate between two slices.
func (s *sub) take(spare []queued) []queued {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.pending
	s.pending, s.dirty = spare[:0], false
	return out
}

// queued is one event waiting on a stream: its SSE frame, the same
// event for sync connections, and the relay time of its publication.
type queued struct {
	frame []byte
	act   *relaysync.Activity
	at    time.Time
}

func newHub(maxStreams, perUser, buf int, flushEvery time.Duration) *hub {
	h := &hub{max: maxStreams, perUser: perUser, buf: max(buf, 1), flushEvery: flushEvery,
		subs: map[model.UserID]map[sink]struct{}{}, done: make(chan struct{})}
	if flushEvery > 0 {
		go h.tick()
	}
	return h
}

// tick wakes the streams that got events, every flushEvery, until close.
func (h *hub) tick() {
	t := time.NewTicker(h.flushEvery)
	defer t.Stop()
	var spare []*sub
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		h.dmu.Lock()
		due := h.dirty
		h.dirty = spare[:0]
		h.dmu.Unlock()
		for _, s := range due {
			wake(s)
		}
		clear(due)
		spare = due
	}
}

// wake tells s's handler it has events, without blocking.
func wake(s *sub) {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// subscribe opens an SSE stream for device of user; call the returned
// function when it ends.
func (h *hub) subscribe(user model.UserID, device model.DeviceID) (*sub, func(), error) {
	s := &sub{wake: make(chan struct{}, 1), device: device, revoked: make(chan struct{})}
	done, err := h.add(user, s)
	return s, done, err
}

// revoke ends the SSE streams of device (deregistered): their handlers
// return, as the device's sync connections close. Its sync connections'
// subscriptions end with those connections.
func (h *hub) revoke(user model.UserID, device model.DeviceID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.subs[user] {
		if s, ok := k.(*sub); ok && s.device == device {
			select {
			case <-s.revoked:
			default:
				close(s.revoked)
			}
		}
	}
}

// add registers s as a stream of user, within the limits (the total and
// per user count SSE streams and sync connections alike); call the
// returned function when it ends.
func (h *hub) add(user model.UserID, s sink) (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.total >= h.max {
		return nil, ErrStreamsFull
	}
	m := h.subs[user]
	if len(m) >= h.perUser {
		return nil, ErrUserStreams
	}
	if m == nil {
		m = map[sink]struct{}{}
		h.subs[user] = m
	}
	m[s] = struct{}{}
	h.total++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := m[s]; ok {
			delete(m, s)
			h.total--
			if len(m) == 0 && h.subs[user] != nil && len(h.subs[user]) == 0 {
				delete(h.subs, user)
			}
		}
	}, nil
}

// push queues msg on the SSE stream s: a stream holding h.buf events
// drops its oldest.
func (s *sub) push(h *hub, msg queued) (dropped bool) {
	s.mu.Lock()
	if len(s.pending) >= h.buf {
		s.pending = append(s.pending[:0], s.pending[1:]...)
		dropped = true
	}
	s.pending = append(s.pending, msg)
	due := !s.dirty
	s.dirty = true
	s.mu.Unlock()
	switch {
	case !due:
	case h.flushEvery == 0:
		wake(s)
	default:
		h.dmu.Lock()
		h.dirty = append(h.dirty, s)
		h.dmu.Unlock()
	}
	return dropped
}

// send queues msg on every stream of user without blocking: a stream
// holding its limit of events (buf; a sync connection's outbox limit)
// drops its oldest.
func (h *hub) send(user model.UserID, msg queued) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[user] {
		if s.push(h, msg) {
			h.drops.Add(1)
		}
		h.sent.Add(1)
	}
}

// close ends every stream and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// Streams returns the number of open activity streams.
func (s *Service) Streams() int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.hub.total
}

// Delivered returns how many events were queued on streams and how many
// were dropped because a stream's queue was full.
func (s *Service) Delivered() (sent, dropped uint64) { return s.hub.sent.Load(), s.hub.drops.Load() }

// checkContext validates a play context from a device.
func checkContext(c model.PlayContext) error {
	switch c.Kind {
	case "", "album", "artist", "track", "playlist":
	default:
		return fmt.Errorf("%w: context kind %s", ErrBadActivity, relay.QuoteInput(c.Kind))
	}
	if len(c.ID) > maxContextID || (c.Kind == "") != (c.ID == "") {
		return fmt.Errorf("%w: context id", ErrBadActivity)
	}
	return nil
}

// Publish pushes what me plays (post) to me's friends who are online and
// records it as me's latest activity (committed within actFlushDelay,
// behind the fan-out). It does nothing (and reports false) when me hides
// activity. The context is kept only when friends may see it
// (visibleContext).
func (s *Service) Publish(ctx context.Context, me model.UserID, post api.ActivityPost) (bool, error) {
	if post.Track == "" || len(post.Track) > maxContextID {
		return false, fmt.Errorf("%w: no track", ErrBadActivity)
	}
	if err := checkContext(post.Context); err != nil {
		return false, err
	}
	p, err := s.readProfile(ctx, me)
	if err != nil {
		return false, err
	}
	if p.HideActivity {
		return false, nil
	}
	t, err := s.cat.Track(ctx, post.Track)
	if errors.Is(err, catalog.ErrNotFound) {
		return false, fmt.Errorf("%w: track %s", ErrBadActivity, relay.QuoteInput(string(post.Track)))
	}
	if err != nil {
		return false, err
	}
	at := s.opts.now()
	rec := activityRecord{Track: t.ID, Title: t.Title, At: at.UnixMilli(), Playing: post.Playing,
		Kind: post.Context.Kind, ID: post.Context.ID}
	for _, a := range t.ArtistIDs {
		name := string(a)
		if ar, err := s.cat.Artist(ctx, a); err == nil {
			name = ar.Name
		}
		rec.Artists = append(rec.Artists, name)
	}
	// A track's own context needs no second catalog read.
	ownTrack := post.Context.Kind == "track" && model.TrackID(post.Context.ID) == post.Track
	if !ownTrack && !s.visibleContext(ctx, post.Context) {
		rec.Kind, rec.ID = "", ""
	}
	b, err := cborEnc.Marshal(rec)
	if err != nil {
		return false, err
	}
	s.acts.put(me, b)
	friends, err := s.Friends(ctx, me)
	if err != nil {
		return true, err
	}
	js, err := json.Marshal(rec.api(me, p.DisplayName))
	if err != nil {
		return true, err
	}
	item, err := cborx.Marshal(rec.api(me, p.DisplayName).Item())
	if err != nil {
		return true, err
	}
	// Framed once, written as is to every stream.
	msg := queued{frame: sseEvent(js), act: relaysync.NewActivity(item, at), at: at}
	for _, f := range friends {
		s.hub.send(f, msg)
	}
	return true, nil
}

// visibleContext reports whether friends may see c: a catalog album,
// artist or track that exists, or a public playlist. Anything else is
// dropped from the activity (not refused: the track still shows).
func (s *Service) visibleContext(ctx context.Context, c model.PlayContext) bool {
	var err error
	switch c.Kind {
	case "album":
		_, err = s.cat.Album(ctx, model.AlbumID(c.ID))
	case "artist":
		_, err = s.cat.Artist(ctx, model.ArtistID(c.ID))
	case "track":
		_, err = s.cat.Track(ctx, model.TrackID(c.ID))
	case "playlist":
		return s.publicPlaylist(ctx, c.ID)
	default:
		return false
	}
	return err == nil
}

// publicPlaylist reports whether id names a public playlist the relay holds.
func (s *Service) publicPlaylist(ctx context.Context, id string) bool {
	did, err := docs.ParseDocumentID(id)
	if err != nil {
		return false
	}
	info, ok, err := s.playlistInfo(ctx, did)
	return err == nil && ok && info.Public
}

func (s *Service) publishH(c echo.Context) error {
	var post api.ActivityPost
	me, err := s.limitedBody(c, s.posts, "activity updates", &post)
	if err != nil {
		return err
	}
	if _, err := s.Publish(c.Request().Context(), me, post); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// sseEvent frames one activity (JSON without newlines, as encoding/json
// writes it) as a Server-Sent Event.
func sseEvent(js []byte) []byte {
	out := make([]byte, 0, len(js)+len("event: activity\ndata: \n\n"))
	out = append(out, "event: activity\ndata: "...)
	out = append(out, js...)
	return append(out, "\n\n"...)
}

// Feed returns the latest activity of each of me's friends who has one
// and does not hide it, most recent first.
func (s *Service) Feed(ctx context.Context, me model.UserID) ([]api.Activity, error) {
	friends, err := s.Friends(ctx, me)
	if err != nil {
		return nil, err
	}
	out := []api.Activity{}
	for _, f := range friends {
		b, ok := s.acts.get(f)
		if !ok {
			b, err = s.st.Get(ctx, activityKey(f))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		var rec activityRecord
		if err := cborDec.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("decode activity of %s: %w", f, err)
		}
		p, err := s.readProfile(ctx, f)
		if err != nil {
			return nil, err
		}
		if p.HideActivity {
			continue
		}
		out = append(out, rec.api(f, p.DisplayName))
	}
	slices.SortFunc(out, func(a, b api.Activity) int { return cmp.Or(b.At.Compare(a.At), cmp.Compare(a.User, b.User)) })
	return out, nil
}

func (s *Service) feedH(c echo.Context) error {
	me, err := caller(c)
	if err != nil {
		return err
	}
	feed, err := s.Feed(c.Request().Context(), me)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, api.ActivityFeed{Activities: feed})
}

// streamH serves GET /v1/activity/stream as Server-Sent Events: first
// the current feed (oldest first), then every friend's activity as it is
// published ("event: activity", data = api.Activity JSON), with a
// comment line after each keep-alive period without an event. It ends when the client goes,
// the relay shuts down or Close is called, or when a write stays blocked
// past the slow-consumer bound (WithStreamQueue).
func (s *Service) streamH(c echo.Context) error {
	dev, ok := relay.DeviceFrom(c)
	if !ok || dev.User == "" {
		return relay.ErrUnauthorized
	}
	me := dev.User
	ctx := c.Request().Context()
	sb, done, err := s.hub.subscribe(me, dev.ID)
	if err != nil {
		if errors.Is(err, ErrUserStreams) {
			return tooMany(c, time.Second, "activity streams")
		}
		return err
	}
	defer done()
	feed, err := s.Feed(ctx, me)
	if err != nil {
		return err
	}
	w := c.Response()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	// Every write must be done within the slow-consumer bound
	// (WithStreamQueue): a client that stops reading, once the socket
	// buffers are full, ends its stream and frees its place under the
	// stream caps and the long-lived budget. Without it the write
	// blocked until TCP gave up (never while the client's kernel
	// acknowledges with a zero window). Not every ResponseWriter has
	// deadlines (ErrNotSupported): such a writer is not a client's
	// connection.
	rc := http.NewResponseController(w)
	due := func() { _ = rc.SetWriteDeadline(time.Now().Add(s.opts.slowConsumer)) }
	// The connection may serve further requests.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	due()
	w.WriteHeader(http.StatusOK)
	write := func(frame []byte) error {
		_, err := w.Write(frame)
		return err
	}
	for i := len(feed) - 1; i >= 0; i-- {
		b, err := json.Marshal(feed[i])
		if err != nil {
			return err
		}
		if err := write(sseEvent(b)); err != nil {
			return nil
		}
	}
	if _, err := fmt.Fprint(w, ": ready\n\n"); err != nil {
		return nil
	}
	w.Flush()
	var spare []queued
	// The keep-alive goes only to streams idle for a whole period: with
	// 10,000 streams a fixed ticker would add 400 writes a second. Writes
	// only note their time; the timer is re-armed when it fires.
	last := time.Now()
	idle := time.NewTimer(s.opts.keepAlive)
	defer idle.Stop()
	// The stream ends when its token expires, as the sync connection
	// does, and when its device is deregistered (sb.revoked).
	var expired <-chan time.Time
	if exp := relay.TokenExpiry(c); !exp.IsZero() {
		t := time.NewTimer(max(exp.Sub(s.opts.now()), 0))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.hub.done:
			return nil
		case <-sb.revoked:
			return nil
		case <-expired:
			return nil
		case <-idle.C:
			if quiet := time.Since(last); quiet < s.opts.keepAlive {
				idle.Reset(s.opts.keepAlive - quiet)
				continue
			}
			due()
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			last = time.Now()
			idle.Reset(s.opts.keepAlive)
		case <-sb.wake:
			batch := sb.take(spare)
			due()
			for _, q := range batch {
				if err := write(q.frame); err != nil {
					return nil
				}
			}
			w.Flush()
			s.lat.record(s.opts.now(), len(batch), func(i int) time.Time { return batch[i].at })
			clear(batch)
			spare, last = batch, time.Now()
			continue
		}
		w.Flush()
	}
}
