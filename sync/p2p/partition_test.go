package p2p_test

import (
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// udpProxy forwards UDP datagrams between one client and target until
// cut, after which it drops every datagram both ways: a network that
// went away without a word. It returns its port.
func udpProxy(t *testing.T, target string) (port string, cut func()) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ta, err := net.ResolveUDPAddr("udp4", target)
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.DialUDP("udp4", nil, ta)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); up.Close() })
	var dead atomic.Bool
	var client atomic.Pointer[net.Addr]
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			client.Store(&from)
			if !dead.Load() {
				_, _ = up.Write(buf[:n])
			}
		}
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if c := client.Load(); c != nil && !dead.Load() {
				_, _ = pc.WriteTo(buf[:n], *c)
			}
		}
	}()
	_, p, _ := net.SplitHostPort(pc.LocalAddr().String())
	return p, func() { dead.Store(true) }
}

// TestPeerVanishedReconnects: alice's laptop syncs with her phone over
// QUIC, then vanishes without closing its connection (the network
// between them goes away, then the laptop's process ends: kill -9 or
// power lost leave a QUIC connection open on the other side until its
// idle timeout). The laptop starts again and dials the phone: before,
// the phone refused it (its stale session with the same peer id stood,
// "already syncing") until the dead connection timed out, ≈ 30 s; now
// the new session replaces it at once and sync goes on.
func TestPeerVanishedReconnects(t *testing.T) { peerVanished(t, false) }

// TestPeerVanishedFromOthersSession: the phone dials the laptop over
// QUIC (the phone's session), then the laptop vanishes without closing
// its connection and starts again. Its dial to the phone is taken at
// once, whichever peer id is the larger: the laptop's new run has a new
// peer id, and a session of a device the phone syncs with under another
// peer id replaces the earlier one. Before, with the peer id the
// device's key, the phone refused the dial until its dead connection
// timed out (≈ 30 s) when the laptop's peer id was the smaller (seeds 1
// and 2: as device keys, the laptop's is the smaller).
func TestPeerVanishedFromOthersSession(t *testing.T) { peerVanished(t, true) }

// peerVanished runs the vanished-laptop scenario: the first session is
// dialled through a UDP proxy by the laptop (phoneDials false) or by the
// phone, the proxy is cut, the laptop restarts and dials the phone
// directly, and the phone's next edit must reach it over one session.
func peerVanished(t *testing.T, phoneDials bool) {
	ctx := t.Context()
	phone, laptop := newDevice(t, "alice", 1), newDevice(t, "alice", 2)
	dialer, target := laptop, phone
	if phoneDials {
		dialer, target = phone, laptop
	}
	direct := addr(t, target, "/quic-v1")
	// /ip4/127.0.0.1/udp/<port>/quic-v1/p2p/<id>
	f := strings.Split(direct, "/")
	port, cut := udpProxy(t, "127.0.0.1:"+f[4])
	f[4] = port
	if err := dialer.node.Connect(ctx, strings.Join(f, "/")); err != nil {
		t.Fatal(err)
	}
	pl, err := phone.repo.CreatePlaylist(ctx, "alice", "mix")
	if err != nil {
		t.Fatal(err)
	}
	add := func(track model.TrackID) {
		if err := pl.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", track); return err }); err != nil {
			t.Fatal(err)
		}
	}
	add("t1")
	eventually(t, "the laptop gets the playlist", func() bool {
		return slices.Equal(tracksOf(t, laptop.repo, pl.ID()), []model.TrackID{"t1"})
	})

	cut()
	laptop.restart()
	if err := laptop.node.Connect(ctx, addr(t, phone, "/quic-v1")); err != nil {
		t.Fatalf("the laptop dials the phone again: %v", err)
	}
	add("t2")
	eventually(t, "the laptop gets the phone's next edit", func() bool {
		return slices.Equal(tracksOf(t, laptop.repo, pl.ID()), []model.TrackID{"t1", "t2"})
	})
	if ps := phone.node.Peers(); len(ps) != 1 || ps[0].ID != laptop.node.ID() {
		t.Fatalf("phone's peers = %+v, want the laptop once", ps)
	}
}
