package peer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
)

// TestSessionOverQueuedConn: a relay session served behind QueueListener
// and ConnContext switches its connection to queued writes, and a
// device's playlist with many edits reaches the relay and the relay's
// answers reach the device (the device's document ends in sync).
func TestSessionOverQueuedConn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	relayRepo, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer relayRepo.Close()
	devRepo, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer devRepo.Close()
	var served atomic.Pointer[QueuedConn]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		conn := NewWSConn(c, 0)
		join, err := ServerHandshake(r.Context(), conn, "relay", wire.PeerMetadata{StorageID: "relay"})
		if err != nil {
			return
		}
		s := &Session{Repo: NewRepoAdapter(relayRepo), Authz: AllowAll, User: "alice", LocalID: "relay",
			RemoteID: join.SenderID, RemoteStorage: RemoteStorage(join), Conn: conn, Log: quiet}
		_ = s.Run(r.Context())
	}))
	srv.Listener = QueueListener(srv.Listener, DefaultQueueOptions())
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if q, ok := c.(*QueuedConn); ok {
			served.Store(q)
		}
		return ConnContext(ctx, c)
	}
	srv.Start()
	defer srv.Close()

	h, err := devRepo.CreatePlaylist(ctx, "alice", "queued")
	if err != nil {
		t.Fatal(err)
	}
	const edits = 50
	for i := range edits {
		if err := h.Playlist(ctx, func(p *docs.Playlist) error {
			_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprint("t", i)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	conn := NewWSConn(c, 0)
	if _, err := ClientHandshake(ctx, conn, "dev", wire.PeerMetadata{StorageID: "dev-store"}); err != nil {
		t.Fatal(err)
	}
	synced := make(chan struct{}, 1)
	devAd := NewRepoAdapter(devRepo)
	dev := &Session{Repo: devAd, Authz: AllowAll, LocalID: "dev", RemoteID: "relay", RemoteStorage: "relay",
		Conn: conn, FollowAll: true, Log: quiet, OnSynced: func(docs.DocumentID, time.Time) {
			select {
			case synced <- struct{}{}:
			default:
			}
		}}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- dev.Run(runCtx) }()
	dev.Want(h.ID())
	// In sync: the relay acknowledged every change of the device (the
	// device's persisted state with the relay records its heads).
	for {
		ok, err := devAd.InSync(ctx, "relay", h.ID())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		select {
		case <-synced:
		case <-ctx.Done():
			t.Fatal("device never in sync with the relay")
		}
	}
	rh, err := relayRepo.Get(ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rh.Heads()), len(h.Heads()); got != want || rh.Heads()[0] != h.Heads()[0] {
		t.Fatalf("relay heads %v, device heads %v", rh.Heads(), h.Heads())
	}
	q := served.Load()
	if q == nil {
		t.Fatal("the relay's connection is no QueuedConn")
	}
	q.mu.Lock()
	queued, writes := q.queued, q.writes
	q.mu.Unlock()
	if !queued || writes == 0 {
		t.Fatalf("relay connection queued %v with %d queued writes, want queued writes", queued, writes)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkQueuedWrites writes bursts of 600-byte binary messages (an
// edit's sync message) from a relay-side WebSocket to a client over
// loopback TCP, each burst waited for by the client before the next (a
// session's wake-up), straight or through a queued QueuedConn. It
// reports the write system calls per message. With writers=burst, each
// message of a burst is written by a goroutine of its own (sessions and
// flushers of several documents writing to one connection); run it with
// -cpu 1 for the relay's one core.
func BenchmarkQueuedWrites(b *testing.B) {
	msg := make([]byte, 600)
	for _, bc := range []struct {
		queued         bool
		burst, writers int
	}{{false, 1, 1}, {false, 8, 1}, {true, 1, 1}, {true, 8, 1}, {true, 8, 8}} {
		queued, burst, writers := bc.queued, bc.burst, bc.writers
		b.Run(fmt.Sprintf("queued=%v/burst=%d/writers=%d", queued, burst, writers), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			type served struct {
				c *websocket.Conn
				q *QueuedConn
			}
			ready := make(chan served, 1)
			stop := make(chan struct{})
			srv := &http.Server{ConnContext: ConnContext, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				q := queuedConnFrom(r.Context())
				if queued {
					q.Queue()
				}
				ready <- served{c, q}
				<-stop
				c.CloseNow()
			})}
			go func() { _ = srv.Serve(QueueListener(ln, DefaultQueueOptions())) }()
			defer srv.Close()
			defer close(stop)
			ctx := context.Background()
			cl, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.CloseNow()
			s := <-ready
			got := make(chan struct{}, burst)
			go func() {
				for {
					if _, _, err := cl.Read(ctx); err != nil {
						return
					}
					got <- struct{}{}
				}
			}()
			s.q.mu.Lock()
			w0 := s.q.writes
			s.q.mu.Unlock()
			b.ResetTimer()
			for range b.N {
				if writers > 1 {
					var wg sync.WaitGroup
					for range burst {
						wg.Go(func() {
							if err := s.c.Write(ctx, websocket.MessageBinary, msg); err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
				} else {
					for range burst {
						if err := s.c.Write(ctx, websocket.MessageBinary, msg); err != nil {
							b.Fatal(err)
						}
					}
				}
				for range burst {
					<-got
				}
			}
			b.StopTimer()
			if queued {
				s.q.mu.Lock()
				w := s.q.writes - w0
				s.q.mu.Unlock()
				b.ReportMetric(float64(w)/float64(b.N*burst), "writes/msg")
			} else {
				b.ReportMetric(1, "writes/msg")
			}
		})
	}
}
