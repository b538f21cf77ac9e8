package relaysync_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// fakeClock is a clock the test moves by hand, safe to read from the
// relay's goroutines.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestAskAndAnswerSpendsRate: a remote whose every message the relay
// answers — requests for documents it does not hold (doc-unavailable),
// or edits of its own playlist (acknowledged) — still spends its rate:
// at 10 messages/s with a burst of 20 and the clock moved 1 s after the
// tenth message, exactly burst + rate·t = 30 messages are admitted (the
// join first), the 31st is refused with an error naming the limit and
// the connection closes with peer.CloseRateLimited. Before the fix each
// answer earned a credit and the remote was never limited.
func TestAskAndAnswerSpendsRate(t *testing.T) {
	const (
		rate, burst = 10, 20
		advanceAt   = 10 // messages after which the clock moves
		advance     = time.Second
		admitted    = burst + rate*int(advance/time.Second) // join included
	)
	for _, tc := range []struct {
		name string
		// next returns the i-th message to send; answered feeds it the
		// relay's answer.
		setup func(t *testing.T) (next func(i int) *wire.Message, answered func(m *wire.Message))
	}{
		{"requests for unknown documents", func(t *testing.T) (func(int) *wire.Message, func(*wire.Message)) {
			req, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
			data := req.Bytes()
			return func(int) *wire.Message {
					return &wire.Message{Type: wire.TypeRequest, SenderID: "mallory-dev", TargetID: "relay", DocumentID: randomID(t).String(), Data: data}
				}, func(m *wire.Message) {
					if m.Type != wire.TypeDocUnavailable {
						t.Fatalf("answer %+v, want doc-unavailable", m)
					}
				}
		}},
		{"edits of an own playlist", func(t *testing.T) (func(int) *wire.Message, func(*wire.Message)) {
			id := randomID(t)
			doc := newPlaylistDoc(t, "mallory")
			ss := automerge.NewSyncState(doc)
			return func(i int) *wire.Message {
					if i > 0 {
						addTrack(t, doc, "mallory", model.TrackID(fmt.Sprint("t", i)))
					}
					m, ok := ss.GenerateMessage()
					if !ok {
						t.Fatalf("message %d: nothing to send", i)
					}
					return &wire.Message{Type: wire.TypeSync, SenderID: "mallory-dev", TargetID: "relay", DocumentID: id.String(), Data: m.Bytes()}
				}, func(m *wire.Message) {
					if m.Type != wire.TypeSync {
						t.Fatalf("answer %+v, want sync", m)
					}
					if _, err := ss.ReceiveMessage(m.Data); err != nil {
						t.Fatal(err)
					}
				}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clk fakeClock
			url, _ := openRelay(t, relaysync.DefaultOptions().WithRate(rate, burst).WithClock(clk.now))
			c := dial(t, url, "mallory") // the join: one message
			next, answered := tc.setup(t)
			sent := 1
			for i := 0; ; i++ {
				if i == advanceAt {
					clk.advance(advance)
				}
				if err := c.Send(t.Context(), next(i)); err != nil {
					t.Fatal(err)
				}
				sent++
				m, err := c.Recv(t.Context())
				if err != nil {
					t.Fatalf("message %d: %v", sent, err)
				}
				if m.Type == wire.TypeError {
					if sent != admitted+1 || !strings.Contains(m.Message, "messages/s") {
						t.Fatalf("message %d refused (%q), want message %d refused for the rate", sent, m.Message, admitted+1)
					}
					break
				}
				if sent > admitted {
					t.Fatalf("message %d answered %s: past burst + rate·t = %d", sent, m.Type, admitted)
				}
				answered(m)
			}
			_, err := c.Recv(t.Context())
			if code := websocket.CloseStatus(err); code != peer.CloseRateLimited {
				t.Fatalf("connection ended with %v (close code %d), want %d", err, code, peer.CloseRateLimited)
			}
		})
	}
}

// TestPushedChangesAnsweredOnCredit: a follower the relay pushes 100
// changes to, with the clock stopped (no token comes back), answers
// every message and is not limited: each push, and each answer that
// carries changes held back for pacing in place of a push, earns the
// answer a credit. Changes come one at a time (each pushed) and in
// bursts of five (held for the follower's answer while one is in
// flight).
func TestPushedChangesAnsweredOnCredit(t *testing.T) {
	const changes = 100
	for _, burst := range []int{1, 5} {
		t.Run(fmt.Sprint("burst=", burst), func(t *testing.T) {
			var clk fakeClock
			url, rp := openRelay(t, relaysync.DefaultOptions().WithRate(10, 20).WithClock(clk.now))
			id := randomID(t)
			alice := newPlaylistDoc(t, "alice", "bob")
			upload(t, url, id, alice)
			h, err := rp.R.Get(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			bob := live(t, url, "bob")
			bobDoc := automerge.New()
			bss := automerge.NewSyncState(bobDoc)
			if m := bob.exchange(t, id, bss); m != nil {
				t.Fatalf("bob's first sync: %+v", m)
			}
			answers := 0
			for i := 0; i < changes; i += burst {
				for j := range burst {
					if err := h.Playlist(t.Context(), func(p *docs.Playlist) error {
						_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprint("r", i+j)))
						return err
					}); err != nil {
						t.Fatal(err)
					}
				}
				want := h.Heads()
				for !slices.Equal(bobDoc.Heads(), want) {
					m := bob.next(t, 5*time.Second)
					if m == nil {
						t.Fatalf("change %d: bob got nothing in 5 s", i)
					}
					if m.Type != wire.TypeSync {
						t.Fatalf("change %d: bob got %+v", i, m)
					}
					if _, err := bss.ReceiveMessage(m.Data); err != nil {
						t.Fatal(err)
					}
					if reply, ok := bss.GenerateMessage(); ok {
						if err := bob.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: bob.user, TargetID: "relay", DocumentID: id.String(), Data: reply.Bytes()}); err != nil {
							t.Fatal(err)
						}
						answers++
					}
				}
			}
			// Answers still in flight are admitted or refused by now:
			// a refusal would arrive as an error and a close.
			if m := bob.next(t, 300*time.Millisecond); m != nil && m.Type != wire.TypeSync {
				t.Fatalf("bob got %+v after %d answers", m, answers)
			}
			if answers < changes/burst {
				t.Fatalf("bob answered %d messages, want at least %d", answers, changes/burst)
			}
		})
	}
}
