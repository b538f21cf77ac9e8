package core_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cputime"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
)

// wireCount is what a device's TCP connections read and wrote: what goes
// on the wire, after permessage-deflate and with the WebSocket framing and
// the automerge-repo CBOR envelope included (TCP/IP headers excluded).
type wireCount struct{ in, out atomic.Int64 }

func (w *wireCount) total() int64 { return w.in.Load() + w.out.Load() }

type countingConn struct {
	net.Conn
	n *wireCount
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.in.Add(int64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.out.Add(int64(n))
	return n, err
}

// wireDevice registers a device of alice against relay whose every TCP
// connection is counted in the returned counter, and opens its docs.
func wireDevice(b *testing.B, relay *tbed.Relay, name string) (*core.Docs, *wireCount) {
	n := &wireCount{}
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, n}, nil
	}
	e := tbed.Engine(b, core.DefaultOptions().WithOrigins(relay.URL).WithDialContext(dial))
	tbed.Register(b, e, "alice", name)
	ds, err := e.OpenDocs(b.Context(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ds.Close() })
	return ds, n
}

// processCPU returns the CPU time this process has used (relay and
// devices run in it).
func processCPU(b *testing.B) time.Duration {
	d, ok := cputime.Process()
	if !ok {
		b.Fatal("no process CPU time on this platform")
	}
	return d
}

func heads(b *testing.B, d *core.Docs, id docs.DocumentID) []string {
	h, err := d.Repo().Get(b.Context(), id)
	if err != nil {
		return nil
	}
	var out []string
	for _, x := range h.Heads() {
		out = append(out, x.String())
	}
	slices.Sort(out)
	return out
}

// waitHeads waits until to holds exactly the heads from has for id.
func waitHeads(b *testing.B, from, to *core.Docs, id docs.DocumentID) {
	want := heads(b, from, id)
	deadline := time.Now().Add(2 * time.Minute)
	for !slices.Equal(heads(b, to, id), want) {
		if time.Now().After(deadline) {
			b.Fatal("timeout waiting for the other device")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkSyncWire measures what sync costs on the wire through a real
// relay (internal/testbed: relay HTTP server, Badger, WebSocket with
// permessage-deflate as deployed) between devices of one user, counted at
// each device's sockets (TCP payload bytes both ways: WebSocket frames,
// automerge-repo CBOR envelope and automerge sync message):
//
//   - edit: one Move in a 10,000-entry playlist on device A until device
//     B holds it, and the time; per edit: bytes A sent (the edit) and
//     received (the relay's acknowledgement), and bytes at B's sockets
//     (the relayed edit and B's acknowledgement).
//   - first-sync: a new device C starts sync and fetches the library and
//     the 10,000-entry playlist; bytes at C's sockets and the time from
//     StartSync until C holds the playlist's heads, and the CPU time the
//     process (relay and devices) spent meanwhile.
//
// Run with:
//
//	go test -run '^$' -bench SyncWire -benchtime 20x ./core/
func BenchmarkSyncWire(b *testing.B) {
	ctx := b.Context()
	relay := tbed.NewRelay(b, tbed.DefaultOptions().WithDemoAlbum(false))
	a, na := wireDevice(b, relay, "a")
	id, err := a.Playlists().Create(ctx, "Big")
	if err != nil {
		b.Fatal(err)
	}
	tr := make([]model.TrackID, 10_000)
	for i := range tr {
		tr[i] = model.TrackID(fmt.Sprintf("trk%06d", i))
	}
	if _, err := a.Playlists().Add(ctx, id, docs.AtEnd(), tr...); err != nil {
		b.Fatal(err)
	}
	if err := a.StartSync(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.StopSync)

	b.Run("edit", func(b *testing.B) {
		bd, nb := wireDevice(b, relay, fmt.Sprintf("b%d", b.N))
		if err := bd.StartSync(ctx); err != nil {
			b.Fatal(err)
		}
		defer bd.StopSync()
		if err := bd.Playlists().Follow(ctx, id); err != nil {
			b.Fatal(err)
		}
		waitHeads(b, a, bd, id)
		v, err := a.Playlists().Get(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // let the follow's exchanges settle
		aOut, aIn, b0 := na.out.Load(), na.in.Load(), nb.total()
		t0 := time.Now()
		for i := range b.N {
			e := v.Entries[(i*104729)%len(v.Entries)]
			if err := a.Playlists().Move(ctx, id, e.ID, docs.AtIndex((i*7919)%(len(v.Entries)-1))); err != nil {
				b.Fatal(err)
			}
			waitHeads(b, a, bd, id)
		}
		el := time.Since(t0)
		time.Sleep(100 * time.Millisecond) // the acknowledgements
		b.ReportMetric(float64(na.out.Load()-aOut)/float64(b.N), "sentB/edit")
		b.ReportMetric(float64(na.in.Load()-aIn)/float64(b.N), "ackB/edit")
		b.ReportMetric(float64(nb.total()-b0)/float64(b.N), "receiverB/edit")
		b.ReportMetric(float64(el.Milliseconds())/float64(b.N), "ms/edit")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("first-sync", func(b *testing.B) {
		var total, bytes, in, cpu float64
		for i := range b.N {
			c, nc := wireDevice(b, relay, fmt.Sprintf("c%d-%d", b.N, i))
			n0, in0 := nc.total(), nc.in.Load()
			c0 := processCPU(b)
			t0 := time.Now()
			if err := c.StartSync(ctx); err != nil {
				b.Fatal(err)
			}
			waitHeads(b, a, c, id)
			total += float64(time.Since(t0).Milliseconds())
			cpu += float64((processCPU(b) - c0).Milliseconds())
			time.Sleep(100 * time.Millisecond) // the last acknowledgement
			bytes += float64(nc.total() - n0)
			in += float64(nc.in.Load() - in0)
			c.StopSync()
		}
		b.ReportMetric(total/float64(b.N), "ms/sync")
		b.ReportMetric(bytes/float64(b.N)/1000, "KB/sync")
		b.ReportMetric(in/float64(b.N)/1000, "recvKB/sync")
		b.ReportMetric(cpu/float64(b.N), "cpu-ms/sync")
		b.ReportMetric(0, "ns/op")
	})
}
