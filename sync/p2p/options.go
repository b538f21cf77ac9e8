package p2p

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// Options configure a Node. Start from DefaultOptions.
type Options struct {
	listen      []string
	mdns        bool
	service     string
	maxFrame    int
	dialTimeout time.Duration
	now         func() time.Time
	log         *slog.Logger
	revoked     []model.DeviceID
	certMaxAge  time.Duration
	mayCreate   CreateFilter
	stableID    bool
	lanKeys     []LANKey    // lankeys.go
	quotaDocs   int         // quota.go
	quotaBytes  int64       // quota.go
	quotaStore  store.Store // quota.go
}

// CreateFilter decides whether a LAN peer of user may bring a document
// id the device does not hold yet.
type CreateFilter func(ctx context.Context, user model.UserID, id docs.DocumentID) (bool, error)

// DefaultCertMaxAge is how long after issue a device certificate is
// accepted from a LAN peer by default: the bound on how long a revoked
// device can keep syncing with devices that never heard of the
// revocation (offline from the relay). Devices online to the relay
// renew theirs well before.
const DefaultCertMaxAge = 30 * 24 * time.Hour

// DefaultOptions returns: TCP and QUIC listeners on every IPv4 interface
// at random ports, mDNS discovery on with service name "segue-sync",
// 1 MiB frames, a 10 s dial timeout, the wall clock, slog.Default, no
// revoked devices, a fresh peer id per node (WithStablePeerID), peer
// certificates accepted up to DefaultCertMaxAge
// after issue, no CreateFilter (a peer may bring any document its
// user may write, see WithCreateFilter), no LAN keys (WithLANKeys: New
// needs them) and a LAN storage quota of
// DefaultQuotaDocs documents and DefaultQuotaBytes bytes per remote user
// and month (WithQuota), counted in memory (WithQuotaStore).
func DefaultOptions() Options {
	return Options{
		listen:      []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"},
		mdns:        true,
		service:     "segue-sync",
		maxFrame:    wire.MaxFrameSize,
		dialTimeout: 10 * time.Second,
		now:         time.Now,
		log:         slog.Default(),
		certMaxAge:  DefaultCertMaxAge,
		quotaDocs:   DefaultQuotaDocs,
		quotaBytes:  DefaultQuotaBytes,
	}
}

// WithStablePeerID makes the node's libp2p identity the device's key, so
// its peer id, and an address given to another device for Connect,
// stays the same at every start; it then tells everyone on the network
// (mDNS announces it; Noise shows it before the key proof) that this
// device is back. Default off: a fresh key per node, whose peer id names
// no device. Authentication is the same either way (the device key's
// signature of the stream).
func (o Options) WithStablePeerID(on bool) Options { o.stableID = on; return o }

// WithCertMaxAge sets how long after issue (by the node's clock) a
// peer's device certificate is accepted; an older one is refused with
// ErrCertExpired. d ≤ 0 removes the bound. Default DefaultCertMaxAge.
func (o Options) WithCertMaxAge(d time.Duration) Options { o.certMaxAge = d; return o }

// WithListen sets the listen multiaddrs (TCP and/or QUIC v1). Default
// /ip4/0.0.0.0/tcp/0 and /ip4/0.0.0.0/udp/0/quic-v1; tests use
// 127.0.0.1.
func (o Options) WithListen(addrs ...string) Options { o.listen = addrs; return o }

// WithMDNS turns mDNS discovery on or off and sets its service name
// (devices only find peers announcing the same name). Default on,
// "segue-sync".
func (o Options) WithMDNS(on bool, service string) Options {
	o.mdns = on
	if service != "" {
		o.service = service
	}
	return o
}

// WithMaxFrame caps one message at n bytes. Default 1 MiB.
func (o Options) WithMaxFrame(n int) Options {
	if n > 0 {
		o.maxFrame = n
	}
	return o
}

// WithDialTimeout bounds connecting to a peer, handshakes included.
// Default 10 s.
func (o Options) WithDialTimeout(d time.Duration) Options {
	if d > 0 {
		o.dialTimeout = d
	}
	return o
}

// WithClock sets the clock of the peers' status and of the certificate
// age check. Default time.Now.
func (o Options) WithClock(now func() time.Time) Options { o.now = now; return o }

// WithLogger sets the logger. Default slog.Default().
func (o Options) WithLogger(l *slog.Logger) Options { o.log = l; return o }

// WithRevoked names devices whose certificates the node refuses from the
// start (the revocation notices the device kept; Node.Revoke adds more
// later). Default none.
func (o Options) WithRevoked(devices ...model.DeviceID) Options {
	o.revoked = append(o.revoked[:len(o.revoked):len(o.revoked)], devices...)
	return o
}

// WithCreateFilter makes the node ask f before it stores a document a
// peer brings that the device does not hold yet; f refusing it (false)
// refuses that document only (the session goes on). Without a filter a
// peer may bring any document naming its user as owner, so a peer of
// any account could fill the device with documents of its choosing, or
// plant one at the id of a document the device is about to receive;
// core.Docs.StartLAN lets only the devices of its own user bring new
// documents.
func (o Options) WithCreateFilter(f CreateFilter) Options { o.mayCreate = f; return o }

// WithLANKeys gives the node the LAN keys its device holds (one to
// MaxLANKeys, each LANKeySize bytes; New refuses none with ErrBadLANKey):
// the key of its own account's devices and one per account it shares a
// playlist with. The node shows its certificate only to a peer that
// proved a key it holds, whose certificate must then name that key's
// user; others learn nothing that names the account.
func (o Options) WithLANKeys(keys ...LANKey) Options { o.lanKeys = slices.Clone(keys); return o }
