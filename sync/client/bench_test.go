package client_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// countingListener counts the bytes the relay reads and writes (the
// wire cost, after permessage-deflate when it is on).
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return countingConn{c, l.n}, err
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func benchRelay(b *testing.B, compression bool) (string, *atomic.Int64) {
	st, err := badgerstore.Open(context.Background(), b.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	rp, _ := repo.Open(context.Background(), st, repo.DefaultOptions())
	ep := relaysync.New(peer.NewRepoAdapter(rp), st, peer.DocumentAccess, relaysync.DefaultOptions().
		WithRate(1e6, 1e6).WithCompression(compression).
		WithAuthenticator(bearerUser))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	n := &atomic.Int64{}
	srv := &http.Server{Handler: ep}
	go srv.Serve(countingListener{ln, n})
	b.Cleanup(func() { srv.Close(); rp.Close(); st.Close() })
	return "ws://" + ln.Addr().String() + "/v1/sync", n
}

// benchDevice opens a device over a fresh Badger store (or reuses r)
// and starts its client, wanting ids; stop ends the client.
func benchDevice(b *testing.B, r *repo.Repo, name, url string, compression bool, ids ...docs.DocumentID) (*repo.Repo, func()) {
	if r == nil {
		st, err := badgerstore.Open(context.Background(), b.TempDir(), badgerstore.DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		r, _ = repo.Open(context.Background(), st, repo.DefaultOptions())
		b.Cleanup(func() { r.Close(); st.Close() })
	}
	c := client.New(peer.NewRepoAdapter(r), client.WebSocket{URL: url, Token: "alice", Compression: compression},
		client.DefaultOptions().WithIdentity(name, name+"-store").WithBackoff(10*time.Millisecond, 50*time.Millisecond, 1).
			WithPushRate(0, 0)) // the relay above does not limit rates
	c.Want(ids...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	return r, func() { cancel(); <-done }
}

func addTracks(b *testing.B, r *repo.Repo, id docs.DocumentID, prefix string, n int, oneCommitEach bool) {
	h, err := r.Get(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	if !oneCommitEach {
		tracks := make([]model.TrackID, n)
		for i := range tracks {
			tracks[i] = model.TrackID(fmt.Sprintf("%s-%06d", prefix, i))
		}
		if err := h.Playlist(context.Background(), func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", tracks...); return err }); err != nil {
			b.Fatal(err)
		}
		return
	}
	for i := range n {
		if err := h.Playlist(context.Background(), func(p *docs.Playlist) error {
			_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("%s-%06d", prefix, i)))
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func count(r *repo.Repo, id docs.DocumentID) int {
	h, err := r.Get(context.Background(), id)
	if err != nil || h.Empty() {
		return 0
	}
	n := 0
	_ = h.ReadPlaylist(func(p *docs.Playlist) error { es, err := p.Entries(); n = len(es); return err })
	return n
}

func waitCount(b *testing.B, r *repo.Repo, id docs.DocumentID, n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for count(r, id) != n {
		if time.Now().After(deadline) {
			b.Fatalf("timeout: %d of %d entries", count(r, id), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkFirstSync10k: a new device fetches a 10,000-entry playlist
// through the relay (which already holds it). Reports wire bytes seen by
// the relay (both directions, after deflate when on).
func BenchmarkFirstSync10k(b *testing.B) {
	for _, deflate := range []bool{false, true} {
		b.Run(fmt.Sprintf("deflate=%v", deflate), func(b *testing.B) {
			url, wireBytes := benchRelay(b, deflate)
			src, stopSrc := benchDevice(b, nil, "src", url, deflate)
			h, err := src.CreatePlaylist(context.Background(), "alice", "big")
			if err != nil {
				b.Fatal(err)
			}
			addTracks(b, src, h.ID(), "t", 10_000, false)
			probe, stopProbe := benchDevice(b, nil, "probe", url, deflate, h.ID())
			waitCount(b, probe, h.ID(), 10_000)
			stopProbe()
			stopSrc()
			b.ResetTimer()
			var total int64
			for i := range b.N {
				wireBytes.Store(0)
				r, stop := benchDevice(b, nil, fmt.Sprint("new", i), url, deflate, h.ID())
				waitCount(b, r, h.ID(), 10_000)
				total += wireBytes.Load()
				stop()
			}
			b.ReportMetric(float64(total)/float64(b.N), "wire-B/op")
		})
	}
}

// BenchmarkReconnect1000 measures convergence after two devices each made
// 1,000 offline edits (one commit per added entry) to a shared playlist:
// from both reconnecting until both hold all 2,000+ entries.
func BenchmarkReconnect1000(b *testing.B) {
	url, wireBytes := benchRelay(b, true)
	var total int64
	for i := range b.N {
		b.StopTimer()
		a, stopA := benchDevice(b, nil, fmt.Sprint("a", i), url, true)
		h, err := a.CreatePlaylist(context.Background(), "alice", "shared")
		if err != nil {
			b.Fatal(err)
		}
		addTracks(b, a, h.ID(), "base", 10, false)
		c, stopC := benchDevice(b, nil, fmt.Sprint("c", i), url, true, h.ID())
		waitCount(b, c, h.ID(), 10)
		stopA()
		stopC()
		addTracks(b, a, h.ID(), "a", 1000, true)
		addTracks(b, c, h.ID(), "c", 1000, true)
		wireBytes.Store(0)
		b.StartTimer()
		_, stopA = benchDevice(b, a, fmt.Sprint("a", i), url, true)
		_, stopC = benchDevice(b, c, fmt.Sprint("c", i), url, true)
		waitCount(b, a, h.ID(), 2010)
		waitCount(b, c, h.ID(), 2010)
		b.StopTimer()
		total += wireBytes.Load()
		stopA()
		stopC()
	}
	b.ReportMetric(float64(total)/float64(b.N), "wire-B/op")
}
