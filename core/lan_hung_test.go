package core_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/p2p"
)

// hangProxy forwards TCP connections to a relay until hang is called;
// from then on it ends the forwarded ones and accepts new ones without
// ever answering: a relay that hangs.
type hangProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	hung   bool
	conns  []net.Conn // accepted: held open, never answered once hung
	ups    []net.Conn // to the relay: closed by hang
}

func newHangProxy(t *testing.T, target string) *hangProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangProxy{ln: ln, target: target}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

// URL is the proxy's origin.
func (p *hangProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *hangProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		hung := p.hung
		p.mu.Unlock()
		if hung {
			continue
		}
		go func() {
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				return
			}
			p.mu.Lock()
			p.ups = append(p.ups, up)
			p.mu.Unlock()
			go io.Copy(up, c)
			io.Copy(c, up)
		}()
	}
}

// hang cuts every connection from the relay: the accepted ones, and
// those accepted later, stay open and are never answered.
func (p *hangProxy) hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = true
	for _, c := range p.ups {
		c.Close()
	}
}

func (p *hangProxy) close() {
	p.ln.Close()
	p.hang()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestStartLANHungRelay: with the relay accepting connections but never
// answering, StartLAN of a device whose certificate is due for renewal
// (it renews the certificate and fetches LAN keys) gives up on the
// relay within one bound, core.LANRelayTimeout, not one per request, and
// starts with the stored certificate and keys.
func TestStartLANHungRelay(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithDemoAlbum(false))
	p := newHangProxy(t, strings.TrimPrefix(r.URL, "http://"))
	ctx := t.Context()
	clk := &shiftClock{}
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(p.URL()).WithClock(clk))
	tbed.Register(t, e, "alice", "phone")
	lan := p2p.DefaultOptions().WithListen("/ip4/127.0.0.1/tcp/0").WithMDNS(false, "")
	d, err := e.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.StartLAN(ctx, nil, lan); err != nil { // stores the LAN keys
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = e.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	clk.set(core.CertRefreshAge + time.Hour)
	p.hang()
	start := time.Now()
	if _, err := d.StartLAN(ctx, nil, lan); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > core.LANRelayTimeout+core.LANRelayTimeout/2 {
		t.Fatalf("StartLAN took %s with a hung relay, bound %s", took, core.LANRelayTimeout)
	}
}
