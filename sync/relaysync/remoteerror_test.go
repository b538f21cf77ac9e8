package relaysync_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
)

// levelCounter is a slog handler counting the records of each level and
// their bytes.
type levelCounter struct {
	warn, bytes atomic.Int64
}

func (c *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *levelCounter) WithGroup(string) slog.Handler            { return c }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	c.warn.Add(1)
	r.Attrs(func(a slog.Attr) bool {
		c.bytes.Add(int64(len(a.Value.String())))
		return true
	})
	return nil
}

// TestRemoteErrorsLogBounded: every error message a remote sent naming a
// document was logged by the relay at warning level with its text (up
// to 4 KiB of the remote's choosing), one line per message: within its
// message rate one connection wrote 2,200 such lines at once and 100 a
// second after, and one account's 256 connections a hundred times
// that. The relay now logs at most a few per connection at that level.
func TestRemoteErrorsLogBounded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sameDoc bool
	}{
		{"one document", true},
		{"a document each", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &levelCounter{}
			url, _ := openRelay(t, relaysync.DefaultOptions().WithLogger(slog.New(logs)))
			conn := dial(t, url, "eve")
			text := strings.Repeat("x", 4000)
			id := randomID(t)
			const n = 200
			for range n {
				if !tc.sameDoc {
					id = randomID(t)
				}
				m := wire.ErrorMessage("eve-dev", "relay", text)
				m.DocumentID = id.String()
				if err := conn.Send(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}
			// A request answered after the errors: the relay has
			// handled them all (one session handles its messages in
			// order).
			own := randomID(t)
			req, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
			if err := conn.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: "eve-dev", TargetID: "relay", DocumentID: own.String(), Data: req.Bytes()}); err != nil {
				t.Fatal(err)
			}
			for {
				m, err := conn.Recv(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if m.DocumentID == own.String() {
					break
				}
			}
			if got := logs.warn.Load(); got > 8 {
				t.Fatalf("%d error messages logged %d warnings (%d bytes), want at most 8", n, got, logs.bytes.Load())
			}
		})
	}
}
