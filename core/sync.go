package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/p2p"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// ErrNoUser is returned by OpenDocs for an empty user id.
var ErrNoUser = errors.New("core: no user")

// Docs is the user's mutable state on this device — the library and the
// playlists, Automerge documents in the engine's store — and their sync
// with the relay (WebSocket) and with devices on the LAN (libp2p). Every
// edit is durable when its method returns, works offline, and merges
// with concurrent edits made elsewhere. Open it with Engine.OpenDocs.
// The engine owns it: Docs.Close releases it early, and Engine.Close
// closes it if it is still open. After either, every method (Library and Playlists
// included) returns ErrClosed. Safe for concurrent use.
type Docs struct {
	e     *Engine
	user  model.UserID
	repo  *repo.Repo
	ad    *peer.RepoAdapter
	calls *gate // public calls; Close shuts it first

	closeOnce sync.Once
	closeErr  error

	libMu    sync.Mutex
	libMoved bool // library() has moved a library kept under the derived id

	mu     sync.Mutex
	client *client.Client
	stop   context.CancelFunc
	done   chan struct{}
	node   *p2p.Node
	// lanStop ends lanKeysLoop, which closes lanDone (StartLAN).
	lanStop context.CancelFunc
	lanDone chan struct{}
}

// ErrDocsOpen is returned by OpenDocs while a Docs of the engine is
// open: documents live in the engine's one store, and a second
// repository over it would keep its own copy of each document and lose
// the first's edits when saving. Share the open Docs, or close it first.
var ErrDocsOpen = errors.New("core: documents already open on this engine")

// ErrOtherAccount is returned by OpenDocs for a user other than the
// account this device is registered to: that account's relay would
// refuse the documents, and whatever was written under the wrong owner
// (playlists made, the library) would never sync.
var ErrOtherAccount = errors.New("core: not the account this device is registered to")

// OpenDocs opens the documents of user (the account this device
// registered with) in the engine's store. It does no network I/O; call
// StartSync to sync with the relay. It is closed by Docs.Close or, at the
// latest, by Engine.Close. One Docs is open per engine at a time: until
// it is closed, OpenDocs returns ErrDocsOpen. A user other than the one
// named by the device certificate Register stored is ErrOtherAccount
// (a device registered with a relay older than certificates, which has
// none stored, is not checked).
func (e *Engine) OpenDocs(ctx context.Context, user model.UserID) (*Docs, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if user == "" {
		return nil, ErrNoUser
	}
	if err := e.checkAccount(ctx, user); err != nil {
		return nil, err
	}
	if err := e.reserveDocs(); err != nil {
		return nil, err
	}
	// A device keeps automerge's sync states: it syncs few peers per
	// document, and the Go ones would index its big documents (the
	// library) in memory.
	r, err := repo.Open(ctx, e.st, repo.DefaultOptions().WithLogger(e.log).
		WithDocOptions(docs.DefaultOptions().WithClock(e.opts.clock.Now)).WithGoSync(false).
		WithActorBinding(true).WithActorPrefix(repo.ActorPrefix(e.DeviceID())).WithSetAside(true))
	if err != nil {
		e.addDocs(nil)
		return nil, fmt.Errorf("core: open documents: %w", err)
	}
	d := &Docs{e: e, user: user, repo: r, ad: &peer.RepoAdapter{R: r, Own: user}, calls: newGate()}
	e.addDocs(d)
	return d, nil
}

// User returns the user whose documents these are.
func (d *Docs) User() model.UserID { return d.user }

// Repo returns the underlying document repository (owned by Docs).
func (d *Docs) Repo() *repo.Repo { return d.repo }

// Subscribe returns a channel that receives an event after every change
// of a document, local or remote (from the relay or a LAN peer), and a
// cancel function. Pending events coalesce per document. The channel is
// closed by cancel or Close (at once when d is already closed).
func (d *Docs) Subscribe() (<-chan repo.Event, func()) {
	if d.calls.check() != nil {
		ch := make(chan repo.Event)
		close(ch)
		return ch, func() {}
	}
	return d.repo.Subscribe(docs.DocumentID{})
}

// SyncURL returns the relay's sync endpoint for an origin base URL:
// http(s)://host → ws(s)://host/v1/sync.
func SyncURL(origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil {
		return "", fmt.Errorf("core: origin %q: %w", origin, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("core: origin %q: want http or https", origin)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/sync"
	return u.String(), nil
}

// StartSync connects to the relay's sync endpoint (the first origin) in
// the background and keeps every document in sync, reconnecting with
// backoff; first it renews the stored device certificate when it is
// older than CertRefreshAge. It needs a registered device
// (ErrNotRegistered). A device that registered with a relay older than
// library id assignment first fetches its library id (GET /v1/me; when
// that fails it syncs without and asks again at the next StartSync).
// Calling it while sync runs does nothing; after the relay refused the
// device's credentials (client.ErrRevoked, client.ErrUnauthorized: sync
// stops, see Status) it starts over. The relay's revocation notices for
// the account's other devices are kept and end LAN sessions with those
// devices at once (StartLAN).
func (d *Docs) StartSync(ctx context.Context) error {
	ctx, end, err := d.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer end()
	tok := d.e.Token()
	if tok == "" {
		return ErrNotRegistered
	}
	u, err := SyncURL(d.e.opts.origins[0])
	if err != nil {
		return err
	}
	d.mu.Lock()
	running := d.client != nil
	d.mu.Unlock()
	if running {
		return nil
	}
	// The library syncs at the id the relay assigned: a device
	// registered before ids were assigned asks for it first (and moves
	// a library kept under the old derived id into it). When that fails
	// (relay unreachable) sync starts anyway and the next StartSync asks
	// again; meanwhile the relay refuses the derived library, which
	// shows in Status.
	if err := d.e.fetchLibraryID(ctx); err != nil {
		d.e.log.Warn("core: library id unknown, syncing without it", "err", err)
	}
	lib, err := d.library(ctx)
	if err != nil {
		return fmt.Errorf("core: library: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client != nil {
		select {
		case <-d.done: // the relay refused the credentials: start over
		default:
			return nil
		}
	}
	dev := string(d.e.DeviceID())
	c := client.New(d.ad, client.WebSocket{URL: u, Token: tok, Compression: true, HTTPClient: d.e.client},
		client.DefaultOptions().WithIdentity(dev+"-"+randomSuffix(), dev).WithLogger(d.e.log).
			WithRevocationHandler(d.revocation))
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	events, unsub := d.repo.Subscribe(lib.ID())
	d.wantFollowed(cctx, c)
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range events {
				d.wantFollowed(cctx, c)
			}
		}()
		if err := d.e.refreshDeviceCert(cctx); err != nil {
			d.e.log.Warn("core: refresh device certificate", "err", err)
		}
		_ = c.Run(cctx)
		unsub()
		wg.Wait()
	}()
	d.client, d.stop, d.done = c, cancel, done
	return nil
}

// wantFollowed asks c for every playlist the library follows that this
// device does not hold (another device of the user followed it), and
// returns those playlists in the library's order.
func (d *Docs) wantFollowed(ctx context.Context, c *client.Client) []docs.DocumentID {
	lib, err := d.Library().Get(ctx)
	if err != nil {
		return nil
	}
	var missing []docs.DocumentID
	for _, id := range lib.Playlists {
		if ok, err := d.ad.Has(ctx, id); err == nil && !ok {
			missing = append(missing, id)
		}
	}
	c.Want(missing...)
	return missing
}

// StopSync disconnects from the relay (going offline); edits keep
// working and are sent on the next StartSync.
func (d *Docs) StopSync() {
	d.mu.Lock()
	stop, done := d.stop, d.done
	d.client, d.stop, d.done = nil, nil, nil
	d.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// randomSuffix names one connection (peer ids are per connection; the
// storage id, the device id, is stable).
func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SyncNow offers every document to the relay and LAN peers at once. It
// does not wait for their answers (WaitInSync does). It needs StartSync
// or StartLAN, and a connection to the relay once StartSync is in effect
// (while it is being made, or remade, the connection syncs every document
// itself): client.ErrDisconnected otherwise.
func (d *Docs) SyncNow(ctx context.Context) error {
	ctx, done, err := d.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	d.mu.Lock()
	c, n := d.client, d.node
	d.mu.Unlock()
	if c == nil && n == nil {
		return client.ErrDisconnected
	}
	var errs []error
	if c != nil {
		errs = append(errs, c.SyncNow(ctx))
	}
	if n != nil {
		errs = append(errs, n.SyncNow(ctx))
	}
	return errors.Join(errs...)
}

// SyncStatus is a snapshot of sync with the relay and LAN peers.
type SyncStatus struct {
	Relay     client.Status
	RelayOn   bool // StartSync is in effect
	LANAddrs  []string
	LANPeers  []p2p.PeerStatus
	Documents int
}

// Status returns the current sync status.
func (d *Docs) Status(ctx context.Context) (SyncStatus, error) {
	ctx, done, err := d.calls.enter(ctx)
	if err != nil {
		return SyncStatus{}, err
	}
	defer done()
	d.mu.Lock()
	c, n := d.client, d.node
	d.mu.Unlock()
	var s SyncStatus
	if c != nil {
		s.Relay, s.RelayOn = c.Status(), true
	}
	if n != nil {
		s.LANAddrs, s.LANPeers = n.Addrs(), n.Peers()
	}
	ids, err := d.repo.List(ctx)
	s.Documents = len(ids)
	return s, err
}

// SetAside lists the documents (playlists, the library) whose records on
// this device did not load and were set aside (repo.Aside: kept under
// docbad/<id>/, never read again), in id order. One not Back is received
// again whole by the next sync unless it never Synced; changes made on
// this device and not sent before it was set aside are only in its
// records set aside. The slice is owned by the caller.
func (d *Docs) SetAside(ctx context.Context) ([]repo.Aside, error) {
	ctx, done, err := d.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return d.repo.Asides(ctx)
}

// DiscardSetAside deletes the records document id was set aside under
// (SetAside), so it is no longer listed; an error wrapping
// repo.ErrNotFound when none are kept. Changes made on this device that
// were only in those records are lost; the document itself, when
// received again, stays.
func (d *Docs) DiscardSetAside(ctx context.Context, id docs.DocumentID) error {
	ctx, done, err := d.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return d.repo.DiscardAside(ctx, id)
}

// WaitSynced blocks until the relay client has exchanged a sync message
// after since and then seen no further exchange for quiet, or ctx ends
// (or d closes: context.Canceled). UIs and demos use it to wait for
// convergence.
func (d *Docs) WaitSynced(ctx context.Context, since time.Time, quiet time.Duration) error {
	ctx, done, err := d.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	c, err := d.relayClient()
	if err != nil {
		return err
	}
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Synced():
			t.Reset(quiet)
		case <-t.C:
			if c.Status().LastSync.After(since) {
				return nil
			}
			t.Reset(quiet)
		}
	}
}

// WaitInSync blocks until the relay client is in sync (client.InSync:
// every document, including the followed playlists this device does not
// hold yet, answered by the relay in the current connection with both
// sides holding the same changes), or ctx ends (or d closes:
// context.Canceled). A device that is already up to date returns after
// one round trip. It needs StartSync (client.ErrDisconnected).
func (d *Docs) WaitInSync(ctx context.Context) error {
	ctx, done, err := d.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	c, err := d.relayClient()
	if err != nil {
		return err
	}
	for {
		missing := d.wantFollowed(ctx, c)
		ok, err := c.InSync(ctx)
		if err != nil {
			return fmt.Errorf("core: sync state: %w", err)
		}
		// The library may have arrived during the check, naming
		// playlists InSync did not wait for: in sync only when the
		// playlists still missing are the ones it covered.
		if ok && slices.Equal(missing, d.wantFollowed(ctx, c)) {
			return nil
		}
		if ok {
			continue
		}
		if err := c.AuthRefused(); err != nil {
			return fmt.Errorf("core: relay sync: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Synced():
		}
	}
}

// StartLAN starts LAN sync (sync/p2p) with cert, this device's
// relay-signed certificate, or with Engine.DeviceCert when cert is nil
// (the one Register stored, else fetched from the relay); peers are
// checked against the pinned catalog key. It returns the node (Addrs for
// manual entry, Connect, Peers). Once a certificate is stored, starting
// LAN sync needs no relay; when the relay is reachable, a stored
// certificate older than CertRefreshAge is renewed first, while the LAN
// keys are fetched (giving up on both after LANRelayTimeout in all). Devices whose revocation notices this device
// kept are refused. The node shows who this device is only to peers
// that prove a LAN key it holds (p2p.WithLANKeys): its own account's and
// those of the users it shares playlists with (refreshed from the relay
// when it answers within LANRelayTimeout, else the stored ones;
// ErrNoLANKeys when none is stored), and kept current while it runs
// (Docs.RefreshLANKeys, WithLANKeyRefresh). The LAN storage quota (p2p.WithQuota) counts in the
// engine's store (p2p.WithQuotaStore), so a restart does not renew it.
func (d *Docs) StartLAN(ctx context.Context, cert []byte, opts p2p.Options) (*p2p.Node, error) {
	ctx, done, err := d.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	ck, err := d.e.catalogKey(ctx)
	if err != nil {
		return nil, err
	}
	peers, err := d.lanPeers(ctx)
	if err != nil {
		return nil, err
	}
	d.renewForLAN(ctx, cert == nil, peers)
	if cert == nil {
		if cert, err = d.e.DeviceCert(ctx); err != nil {
			return nil, err
		}
	}
	revoked, err := d.revokedDevices(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := d.storedLANKeys(ctx, peers)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.node != nil {
		return d.node, nil
	}
	n, err := p2p.New(ctx, d.e.id, cert, ck, d.ad, opts.WithLogger(d.e.log).WithRevoked(revoked...).WithCreateFilter(d.lanMayCreate).WithQuotaStore(d.e.st).WithLANKeys(keys...))
	if err != nil {
		return nil, err
	}
	d.node = n
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	d.lanStop, d.lanDone = stop, make(chan struct{})
	go func() {
		defer close(d.lanDone)
		d.lanKeysLoop(lctx, peers)
	}()
	return n, nil
}

// lanMayCreate is StartLAN's p2p.CreateFilter: only the devices of this
// user may bring a document this device does not hold; a peer of
// another user only syncs documents the device already holds (from the
// relay or its own devices), whose content then decides what that user
// may change. A document another user creates here cannot be told from
// a forgery: at the id of a playlist of this user that the library
// follows but the device lacks, another user's document (naming itself
// owner, public) merged with the real one when the relay sent it, and
// the device then sent the forged owner, name and sharing to the relay
// with its owner's authority; and without any filter, any account's
// device could store any number of documents here.
func (d *Docs) lanMayCreate(_ context.Context, user model.UserID, _ docs.DocumentID) (bool, error) {
	return user == d.user, nil
}

// deviceCertKey is the store key of this device's certificate.
var deviceCertKey = []byte("cfg/device-cert")

// DeviceCert returns this device's certificate for LAN sync: the
// catalog-signed envelope binding its signing key to its user
// (crypto.IssueDeviceCert). It is the one stored at cfg/device-cert by Register;
// when none is stored (a device registered with an older relay) it is
// fetched with GET /v1/devices/cert, verified and stored, which needs a
// registered device (ErrNotRegistered). The slice is owned by the
// caller.
func (e *Engine) DeviceCert(ctx context.Context) ([]byte, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	cert, err := e.st.Get(ctx, deviceCertKey)
	if err == nil {
		return cert, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("core: read device certificate: %w", err)
	}
	if e.Token() == "" {
		return nil, ErrNotRegistered
	}
	var out api.CertResponse
	if err := e.call(ctx, "GET", "/v1/devices/cert", nil, &out, true); err != nil {
		return nil, fmt.Errorf("core: fetch device certificate: %w", err)
	}
	if err := e.saveDeviceCert(ctx, out.Cert); err != nil {
		return nil, fmt.Errorf("core: fetch device certificate: %w", err)
	}
	return out.Cert, nil
}

// checkAccount returns ErrOtherAccount when the device certificate
// stored by Register names another user than user; nil when it names
// user, or when none is stored or it does not verify (damaged: StartSync
// fetches it again), which leaves nothing to check against. It does no
// network I/O.
func (e *Engine) checkAccount(ctx context.Context, user model.UserID) error {
	b, err := e.st.Get(ctx, deviceCertKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("core: read device certificate: %w", err)
	}
	ck := e.pin.Key()
	if ck == nil {
		return nil
	}
	cert, err := crypto.VerifyDeviceCert(ck, b, e.id.SignPublic())
	if err == nil && cert.User != user {
		return fmt.Errorf("%w: %s (registered to %s)", ErrOtherAccount, safetext.Quote(string(user)), cert.User)
	}
	return nil
}

// saveDeviceCert checks that cert certifies this device's key under the
// pinned catalog key and stores it at cfg/device-cert.
func (e *Engine) saveDeviceCert(ctx context.Context, cert []byte) error {
	ck, err := e.catalogKey(ctx)
	if err != nil {
		return err
	}
	if _, err := crypto.VerifyDeviceCert(ck, cert, e.id.SignPublic()); err != nil {
		return fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if err := e.st.Set(ctx, deviceCertKey, cert); err != nil {
		return fmt.Errorf("store device certificate: %w", err)
	}
	return nil
}

// Close refuses further calls (ErrClosed), cancels and waits for those in
// flight, stops sync (relay and LAN) and closes the repository. The
// engine stays open. Close is idempotent: later calls return the first
// call's error once it has finished.
func (d *Docs) Close() error {
	d.closeOnce.Do(func() {
		d.calls.close()
		d.StopSync()
		d.mu.Lock()
		n, stop, loopDone := d.node, d.lanStop, d.lanDone
		d.node = nil
		d.mu.Unlock()
		var err error
		if n != nil {
			stop()
			<-loopDone
			err = n.Close()
		}
		d.closeErr = errors.Join(err, d.repo.Close())
		d.e.removeDocs(d)
	})
	return d.closeErr
}

// relayClient returns the running relay client, or
// client.ErrDisconnected before StartSync.
func (d *Docs) relayClient() (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client == nil {
		return nil, client.ErrDisconnected
	}
	return d.client, nil
}
