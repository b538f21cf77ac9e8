package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multiaddr"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// ProtocolID is the libp2p protocol of Segue's LAN sync: a key proof
// (proveKeys), the certificates with the device keys' signatures of the
// stream (exchangeCerts), then automerge-repo messages. Version 1 had no
// key proof: a device showed its certificate to whatever it dialled;
// version 2 checked the certificate against the libp2p key, which was
// the device key, so the peer id named the device at every start.
const ProtocolID = "/segue/sync/3"

// Errors of the LAN node.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("p2p: node closed")
	// ErrBadAddr is returned by Connect for an address that is not a
	// multiaddr ending in /p2p/<peer id>.
	ErrBadAddr = errors.New("p2p: bad peer address")
	// ErrBadListen is returned by CheckListen for a listen address that
	// is not a multiaddr.
	ErrBadListen = errors.New("p2p: bad listen address")
	// ErrUnreachable is returned by Connect when no connection to the
	// peer could be made (nothing listens at the address yet, or the
	// network is down): a dial worth trying again later.
	ErrUnreachable = errors.New("p2p: peer unreachable")
	// ErrAlreadyConnected is returned by Connect when a session with the
	// peer is running.
	ErrAlreadyConnected = errors.New("p2p: already syncing with this peer")
	// ErrRevoked is returned when the peer's device was revoked (Revoke,
	// WithRevoked).
	ErrRevoked = errors.New("p2p: peer device revoked")
	// ErrCertExpired is returned when the peer's certificate was issued
	// longer ago than the node accepts (WithCertMaxAge).
	ErrCertExpired = errors.New("p2p: peer certificate too old")
)

// MaxMDNSDials bounds the dials to peers found by mDNS that a Node runs
// at once: a peer found while as many are in flight is not dialled (its
// next announcement finds it again), and nor is one being dialled or
// synced with already. Every host on the network may answer mDNS, with
// any number of made-up peers at any addresses, each dial holding a
// goroutine and a connection for up to the dial timeout.
const MaxMDNSDials = 8

// PeerStatus describes one LAN peer a Node syncs with.
type PeerStatus struct {
	ID       string // libp2p peer id
	User     model.UserID
	Device   model.DeviceID
	Addr     string // remote multiaddr
	Since    time.Time
	LastSync time.Time // zero: nothing exchanged yet
	// OverQuota counts the peer's messages refused by the LAN storage
	// quota (WithQuota, ErrQuota) in this session.
	OverQuota int
}

// Node syncs a device's documents with other devices on the LAN over
// libp2p (TCP + Noise + yamux, QUIC v1 as a second listener). The libp2p
// identity is a fresh key per node (its peer id names no device); on
// every /segue/sync/3 stream both sides first prove a LAN key in common,
// then exchange a relay-signed device certificate with a signature of
// the stream by the device key it names, so each knows the other's
// device and user, then
// speak automerge-repo messages with the
// same framing as elsewhere. peer.DocumentAccess decides per document:
// a library syncs only between devices of its owner, a playlist with its
// collaborators (or anyone when public, read-only).
type Node struct {
	h       host.Host
	id      *crypto.Identity // signs the session binding (exchangeCerts)
	repo    peer.Repo
	cert    []byte
	catalog ed25519.PublicKey
	storage string
	opts    Options
	md      mdns.Service

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[libp2ppeer.ID]*session
	revoked  map[model.DeviceID]bool
	dialing  map[libp2ppeer.ID]bool // mDNS dials in flight (MaxMDNSDials)
	// accepting counts the streams each peer opened whose handshake is
	// running (accept); changed is closed and replaced whenever it or
	// sessions changes (waitPeerSession).
	accepting map[libp2ppeer.ID]int
	changed   chan struct{}
	closed    bool
	keys      []LANKey // WithLANKeys, SetLANKeys; the own account's first

	user model.UserID // the own certificate's

	quota *lanQuota // WithQuota, shared by the node's sessions
}

type session struct {
	s      *peer.Session
	status PeerStatus
	reset  func()
	dialer bool          // this node opened the stream
	done   chan struct{} // closed once the session ended and left n.sessions
}

// New starts a node for the device id (whose certificate cert the relay
// signed with the catalog key; catalog verifies the peers'), syncing
// repo. It listens at once, and announces itself over mDNS when enabled.
// Close stops it. The node does not own repo.
func New(ctx context.Context, id *crypto.Identity, cert []byte, catalog ed25519.PublicKey, repo peer.Repo, opts Options) (*Node, error) {
	if len(cert) == 0 || len(cert) > crypto.MaxDeviceCertSize {
		return nil, fmt.Errorf("%w: certificate of %d bytes", crypto.ErrBadDeviceCert, len(cert))
	}
	own, err := crypto.VerifyDeviceCert(catalog, cert, id.SignPublic())
	if err != nil {
		return nil, fmt.Errorf("own certificate: %w", err)
	}
	if err := checkLANKeys(opts.lanKeys); err != nil {
		return nil, err
	}
	// A fresh libp2p key per node unless WithStablePeerID: the peer id,
	// which mDNS announces to every host and Noise shows before the key
	// proof, tells nobody that the device is back. The device key is
	// shown only after the key proof (exchangeCerts).
	priv, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if opts.stableID {
		priv, err = libp2pcrypto.UnmarshalEd25519PrivateKey(id.SigningKey())
	}
	if err != nil {
		return nil, fmt.Errorf("p2p: identity: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(opts.listen...),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		// Without port reuse a TCP dial leaves from an ephemeral port:
		// with it, two devices dialling each other at once (each given
		// the other's --peer) both dialled from their listening port,
		// and the TCP simultaneous open made one connection on which
		// both sides began Noise as initiator ("noise: message is too
		// short"). Reuse serves NAT traversal, which a LAN node does not
		// do.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		return nil, fmt.Errorf("p2p: start host: %w", err)
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n := &Node{
		h: h, id: id, repo: repo, cert: cert, catalog: catalog, storage: string(id.DeviceID()), opts: opts,
		ctx: nctx, cancel: cancel, sessions: map[libp2ppeer.ID]*session{}, revoked: map[model.DeviceID]bool{},
		dialing: map[libp2ppeer.ID]bool{}, accepting: map[libp2ppeer.ID]int{}, changed: make(chan struct{}),
		quota: newLANQuota(opts), user: own.User,
	}
	n.keys = n.ownFirst(opts.lanKeys)
	for _, d := range opts.revoked {
		n.revoked[d] = true
	}
	h.SetStreamHandler(ProtocolID, n.accept)
	if opts.mdns {
		n.md = mdns.NewMdnsService(h, opts.service, notifee{n})
		if err := n.md.Start(); err != nil {
			n.opts.log.Warn("p2p: mDNS unavailable; manual peers only", "err", err)
			n.md = nil
		}
	}
	return n, nil
}

// ID returns the node's libp2p peer id: new at every New, so a peer id
// seen on the network does not tell that a device is back.
func (n *Node) ID() string { return n.h.ID().String() }

// Addrs returns the node's dialable multiaddrs, each ending in
// /p2p/<id>, for manual peer entry on another device.
func (n *Node) Addrs() []string {
	var out []string
	for _, a := range n.h.Addrs() {
		out = append(out, a.String()+"/p2p/"+n.h.ID().String())
	}
	slices.Sort(out)
	return out
}

// Peers returns the peers the node currently syncs with, sorted by id.
func (n *Node) Peers() []PeerStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]PeerStatus, 0, len(n.sessions))
	for _, s := range n.sessions {
		out = append(out, s.status)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// SyncNow offers every local document to every connected peer.
func (n *Node) SyncNow(ctx context.Context) error {
	ids, err := n.repo.IDs(ctx)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.sessions {
		s.s.Want(ids...)
	}
	return nil
}

// Connect dials the peer at addr (a multiaddr ending in /p2p/<id>, as
// printed by Addrs), checks its certificate and starts syncing in the
// background. It returns once the handshake is done, or once a session
// the peer opened stands instead (the peer dialled this node at the
// same time and its session won, see replaces; or it had dialled
// already). A second dial while this node's own session with the peer
// runs is ErrAlreadyConnected.
func (n *Node) Connect(ctx context.Context, addr string) error {
	ai, err := parseAddr(addr)
	if err != nil {
		return err
	}
	return n.connect(ctx, *ai)
}

// CheckAddr returns ErrBadAddr (wrapped) unless addr is an address
// Connect accepts, without dialing it: a command checks its arguments
// before it starts a node.
func CheckAddr(addr string) error {
	_, err := parseAddr(addr)
	return err
}

// CheckListen returns ErrBadListen (wrapped) unless every one of addrs
// is a multiaddr (WithListen), without listening.
func CheckListen(addrs ...string) error {
	for _, a := range addrs {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			return fmt.Errorf("%w: %v", ErrBadListen, err)
		}
	}
	return nil
}

func parseAddr(addr string) (*libp2ppeer.AddrInfo, error) {
	ma, err := multiaddr.NewMultiaddr(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAddr, err)
	}
	ai, err := libp2ppeer.AddrInfoFromP2pAddr(ma)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAddr, err)
	}
	return ai, nil
}

func (n *Node) connect(ctx context.Context, ai libp2ppeer.AddrInfo) error {
	n.mu.Lock()
	closed := n.closed
	old, busy := n.sessions[ai.ID]
	n.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if busy {
		if !old.dialer {
			return nil
		}
		return ErrAlreadyConnected
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.dialTimeout)
	defer cancel()
	if err := n.h.Connect(ctx, ai); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, ai.ID, err)
	}
	st, err := n.h.NewStream(ctx, ai.ID, ProtocolID)
	if err != nil {
		return fmt.Errorf("p2p: open stream to %s: %w", ai.ID, err)
	}
	err = n.start(ctx, st, true)
	if err != nil && !errors.Is(err, ErrClosed) && n.waitPeerSession(ctx, ai.ID) {
		// Both nodes dialled at once and the peer's session won: the
		// peer reset this node's stream (or this node found the peer's
		// session standing), and the two sync over the peer's.
		n.opts.log.Debug("p2p: peer's own dial won; syncing over it", "peer", ai.ID, "err", err)
		return nil
	}
	return err
}

// waitPeerSession waits until no stream remote opened is in its
// handshake, then reports whether a session remote opened stands. A
// dial of this node that lost to the peer's simultaneous dial fails
// only after the peer's session was set up on the peer's side, so its
// stream has reached accept here by then.
func (n *Node) waitPeerSession(ctx context.Context, remote libp2ppeer.ID) bool {
	for {
		n.mu.Lock()
		if n.accepting[remote] == 0 {
			s, ok := n.sessions[remote]
			n.mu.Unlock()
			return ok && !s.dialer
		}
		ch := n.changed
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// notifyLocked wakes waitPeerSession. Caller holds n.mu.
func (n *Node) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// accept serves an incoming stream.
func (n *Node) accept(st network.Stream) {
	remote := st.Conn().RemotePeer()
	n.mu.Lock()
	n.accepting[remote]++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		if n.accepting[remote]--; n.accepting[remote] == 0 {
			delete(n.accepting, remote)
		}
		n.notifyLocked()
		n.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.dialTimeout)
	defer cancel()
	if err := n.start(ctx, st, false); err != nil {
		n.opts.log.Info("p2p: refused peer", "peer", remote, "err", err)
	}
}

// start exchanges certificates and the automerge-repo handshake on st,
// then runs the session in the background.
func (n *Node) start(ctx context.Context, st network.Stream, dialer bool) error {
	remote := st.Conn().RemotePeer()
	conn := newStreamConn(st, n.opts.maxFrame)
	_ = st.SetDeadline(time.Now().Add(n.opts.dialTimeout))
	proved, nonce, err := n.proveKeys(conn, dialer, remote)
	if err != nil {
		st.Reset()
		return err
	}
	cert, err := n.exchangeCerts(conn, dialer, n.binding(dialer, nonce, remote))
	if err != nil {
		st.Reset()
		return err
	}
	if !slices.Contains(proved, cert.User) {
		st.Reset()
		return fmt.Errorf("%w: certificate of %s, key proved for %v", ErrNoCommonKey, cert.User, proved)
	}
	meta := wire.PeerMetadata{StorageID: n.storage}
	var hm *wire.Message
	if dialer {
		hm, err = peer.ClientHandshake(ctx, conn, n.ID(), meta)
	} else {
		hm, err = peer.ServerHandshake(ctx, conn, n.ID(), meta)
	}
	if err != nil {
		st.Reset()
		return fmt.Errorf("p2p: handshake with %s: %w", remote, err)
	}
	_ = st.SetDeadline(time.Time{})
	sess := &session{status: PeerStatus{
		ID: remote.String(), User: cert.User, Device: cert.Device,
		Addr: st.Conn().RemoteMultiaddr().String(), Since: n.opts.now(),
	}, reset: func() { st.Reset() }, dialer: dialer, done: make(chan struct{})}
	sess.s = &peer.Session{
		Repo: &quotaRepo{Repo: n.repo, q: n.quota, user: cert.User, device: cert.Device, refused: func() {
			n.mu.Lock()
			sess.status.OverQuota++
			n.mu.Unlock()
		}}, Authz: peer.DocumentAccess, User: cert.User,
		LocalID: n.ID(), RemoteID: hm.SenderID, RemoteStorage: peer.RemoteStorage(hm),
		Conn: conn, FollowAll: true, OfferAll: true, Now: n.opts.now, Log: n.opts.log,
		MayCreate: n.mayCreate(cert.User),
		OnSynced: func(_ docs.DocumentID, at time.Time) {
			n.mu.Lock()
			sess.status.LastSync = at
			n.mu.Unlock()
		},
	}
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			st.Reset()
			return ErrClosed
		}
		if n.revoked[cert.Device] { // revoked during the handshake
			n.mu.Unlock()
			st.Reset()
			return fmt.Errorf("%w: %s of %s", ErrRevoked, cert.Device, cert.User)
		}
		if !holdsKeyOf(n.keys, cert.User) { // withdrawn during the handshake (SetLANKeys)
			n.mu.Unlock()
			st.Reset()
			return fmt.Errorf("%w: the key of %s was withdrawn", ErrNoCommonKey, cert.User)
		}
		old, dup := n.sessions[remote]
		if !dup {
			old, dup = n.deviceSessionLocked(cert.Device, remote)
		}
		if !dup {
			break
		}
		if old.status.ID == remote.String() && !n.replaces(old, dialer, remote) {
			n.mu.Unlock()
			st.Reset()
			return ErrAlreadyConnected
		}
		n.mu.Unlock()
		// The earlier session ends (and drops the peer's sync states)
		// before this one starts under the same peer name, or under the
		// new peer id of the same device (restarted: a peer id lasts one
		// node).
		n.opts.log.Info("p2p: peer dialled again; ending its earlier session", "peer", remote, "earlier", old.status.ID)
		old.reset()
		select {
		case <-old.done:
		case <-ctx.Done():
			st.Reset()
			return fmt.Errorf("p2p: end earlier session with %s: %w", remote, ctx.Err())
		}
	}
	n.sessions[remote] = sess
	n.notifyLocked()
	n.wg.Add(1)
	n.mu.Unlock()
	go n.run(remote, sess, st)
	return nil
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// replaces reports whether a new session with remote, whose stream this
// node opened when dialer, takes the place of old, a session with the
// same peer. A remote that dials again while its session stands has
// restarted or lost its connection (a peer that vanished without
// closing it — power lost, network gone, a QUIC connection after kill
// -9 — keeps its session until keep-alives time out, about 30 s, and
// each of its new dials was refused meanwhile): the new session wins.
// Of two sessions opened in opposite directions (both devices dialled
// at once), both nodes keep the one the larger peer id opened, as mDNS
// discovery dials (notifee). A second dial of this node's own loses.
// Caller holds n.mu.
func (n *Node) replaces(old *session, dialer bool, remote libp2ppeer.ID) bool {
	switch {
	case !dialer && !old.dialer:
		return true
	case dialer && old.dialer:
		return false
	case dialer:
		return n.ID() > remote.String()
	default:
		return remote.String() > n.ID()
	}
}

// mayCreate returns the session's Session.MayCreate for a peer of user:
// the node's CreateFilter for that user, or nil without one.
func (n *Node) mayCreate(user model.UserID) func(context.Context, docs.DocumentID) (bool, error) {
	f := n.opts.mayCreate
	if f == nil {
		return nil
	}
	return func(ctx context.Context, id docs.DocumentID) (bool, error) { return f(ctx, user, id) }
}

func (n *Node) run(remote libp2ppeer.ID, sess *session, st network.Stream) {
	defer n.wg.Done()
	err := sess.s.Run(n.ctx)
	st.Reset()
	n.mu.Lock()
	if n.sessions[remote] == sess {
		delete(n.sessions, remote)
		n.notifyLocked()
	}
	n.mu.Unlock()
	close(sess.done)
	n.opts.log.Info("p2p: session ended", "peer", remote, "user", sess.status.User, "err", err)
}

// Revoke makes the node refuse device from now on: its running sessions
// are reset at once and its certificate is refused on every later
// stream. The caller has verified that the relay revoked it (a
// crypto.VerifyRevocation notice) and persists that for the next start
// (WithRevoked). It reports how many sessions it ended.
func (n *Node) Revoke(device model.DeviceID) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.revoked[device] = true
	ended := 0
	for _, s := range n.sessions {
		if s.status.Device == device {
			s.reset()
			ended++
		}
	}
	if ended > 0 {
		n.opts.log.Info("p2p: revoked device", "device", device, "sessions", ended)
	}
	return ended
}

// exchangeCerts sends the own certificate and the own device key's
// signature of binding, and reads and checks the remote's (checkPeer).
// The dialler writes first; the dialled side writes only once the
// dialler's passed, so a host that connects without a valid certificate
// of a device that may sync learns nothing of this device's account.
func (n *Node) exchangeCerts(conn *streamConn, dialer bool, bind sessionBinding) (crypto.DeviceCert, error) {
	if dialer {
		if err := n.writeCert(conn, bind.local); err != nil {
			return crypto.DeviceCert{}, err
		}
		return n.checkPeer(conn, bind.remote)
	}
	c, err := n.checkPeer(conn, bind.remote)
	if err != nil {
		return c, err
	}
	return c, n.writeCert(conn, bind.local)
}

// sessionBinding is what each side of a stream signs with its device key
// (exchangeCerts): local is this node's message, remote the peer's.
type sessionBinding struct{ local, remote []byte }

// binding returns the messages the two sides of a stream sign: a domain,
// the signer's role, the dialler's key-proof nonce and both peer ids
// (which Noise authenticated), so a signature is good on this stream
// only.
func (n *Node) binding(dialer bool, nonce []byte, remote libp2ppeer.ID) sessionBinding {
	d, l := n.h.ID(), remote
	if !dialer {
		d, l = remote, n.h.ID()
	}
	msg := func(role string) []byte {
		b := []byte("segue-lan-device-" + role + "-v1\x00")
		b = append(b, nonce...)
		b = append(b, d...)
		b = append(b, 0)
		return append(b, l...)
	}
	if dialer {
		return sessionBinding{local: msg("dial"), remote: msg("accept")}
	}
	return sessionBinding{local: msg("accept"), remote: msg("dial")}
}

// deviceProofSize is the length of the blob after a certificate: the
// device's Ed25519 public key and its signature of the session binding.
const deviceProofSize = ed25519.PublicKeySize + ed25519.SignatureSize

// writeCert writes the own certificate, then the device key and its
// signature of msg.
func (n *Node) writeCert(conn *streamConn, msg []byte) error {
	if err := conn.writeBlob(n.cert); err != nil {
		return err
	}
	return conn.writeBlob(append(slices.Clone(n.id.SignPublic()), n.id.Sign(msg)...))
}

// checkPeer reads the remote's certificate, device key and signature of
// msg, and checks that the certificate certifies that key, that the key
// signed msg (the peer holds the device key: a copied certificate is
// refused), the revoked devices and the certificates' age limit.
func (n *Node) checkPeer(conn *streamConn, msg []byte) (crypto.DeviceCert, error) {
	raw, err := conn.readBlob(crypto.MaxDeviceCertSize)
	if err != nil {
		return crypto.DeviceCert{}, err
	}
	proof, err := conn.readBlob(deviceProofSize)
	if err != nil {
		return crypto.DeviceCert{}, err
	}
	if len(proof) != deviceProofSize {
		return crypto.DeviceCert{}, fmt.Errorf("%w: device proof of %d bytes, want %d", crypto.ErrBadDeviceCert, len(proof), deviceProofSize)
	}
	pub := ed25519.PublicKey(proof[:ed25519.PublicKeySize])
	cert, err := crypto.VerifyDeviceCert(n.catalog, raw, pub)
	if err != nil {
		return cert, err
	}
	if !ed25519.Verify(pub, msg, proof[ed25519.PublicKeySize:]) {
		return crypto.DeviceCert{}, fmt.Errorf("%w: the device key did not sign this session", crypto.ErrBadDeviceCert)
	}
	n.mu.Lock()
	revoked := n.revoked[cert.Device]
	n.mu.Unlock()
	if revoked {
		return cert, fmt.Errorf("%w: %s of %s", ErrRevoked, cert.Device, cert.User)
	}
	if age := n.opts.now().Sub(time.UnixMilli(cert.Issued)); n.opts.certMaxAge > 0 && age > n.opts.certMaxAge {
		return cert, fmt.Errorf("%w: %s of %s issued %s ago, limit %s", ErrCertExpired, cert.Device, cert.User, age.Round(time.Second), n.opts.certMaxAge)
	}
	return cert, nil
}

// deviceSessionLocked returns a session with device under a peer id
// other than remote: the same device before it restarted. Caller holds
// n.mu.
func (n *Node) deviceSessionLocked(device model.DeviceID, remote libp2ppeer.ID) (*session, bool) {
	for id, s := range n.sessions {
		if id != remote && s.status.Device == device {
			return s, true
		}
	}
	return nil, false
}

// Close stops discovery, ends every session and closes the host.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for _, s := range n.sessions {
		s.reset()
	}
	n.mu.Unlock()
	if n.md != nil {
		n.md.Close()
	}
	n.cancel()
	n.wg.Wait()
	return n.h.Close()
}

// notifee dials peers found by mDNS, at most MaxMDNSDials at once. Of
// two devices that find each other, only the one with the larger peer
// id dials, so they do not open two sessions.
type notifee struct{ n *Node }

func (f notifee) HandlePeerFound(ai libp2ppeer.AddrInfo) {
	n := f.n
	if ai.ID == n.h.ID() || ai.ID.String() > n.ID() {
		return
	}
	n.opts.log.Debug("p2p: mDNS found peer", "peer", ai.ID)
	n.mu.Lock()
	_, syncing := n.sessions[ai.ID]
	if n.closed || syncing || n.dialing[ai.ID] {
		n.mu.Unlock()
		return
	}
	if len(n.dialing) >= MaxMDNSDials {
		n.mu.Unlock()
		n.opts.log.Debug("p2p: mDNS peer not dialled: too many dials in flight", "peer", ai.ID, "limit", MaxMDNSDials)
		return
	}
	n.dialing[ai.ID] = true
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		err := n.connect(n.ctx, ai)
		n.mu.Lock()
		delete(n.dialing, ai.ID)
		n.mu.Unlock()
		if err != nil && !errors.Is(err, ErrAlreadyConnected) {
			n.opts.log.Info("p2p: mDNS peer", "peer", ai.ID, "err", err)
		}
	}()
}
