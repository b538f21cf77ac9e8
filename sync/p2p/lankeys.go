package p2p

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/segue-fm/segue/core/model"
)

// MaxLANKeys bounds the LAN keys a node holds (WithLANKeys) and the
// proofs it reads from a dialler: two (the relay's current and previous
// epoch) for each of up to 1,024 accounts, its own included.
const MaxLANKeys = 2048

// LANKeySize is the length of a LAN key.
const LANKeySize = 32

// lanProofPad: a dialler's proofs are padded with random ones to a
// multiple of it, so their number tells little of its ring.
const lanProofPad = 16

// ErrNoCommonKey is returned when the peer proved no LAN key this node
// holds (a stranger, or a device of an account it shares nothing with).
var ErrNoCommonKey = errors.New("p2p: peer holds no LAN key in common")

// ErrBadLANKey is returned by New without LAN keys or with keys it
// cannot use (WithLANKeys).
var ErrBadLANKey = errors.New("p2p: bad LAN key")

// LANKey is a secret the relay gives the devices of two accounts that
// may sync with each other over the LAN (both users' devices hold the
// same key; User is the other account, or the device's own for the key
// its own devices share). Proving it before the certificates keeps a
// device's account from any host that does not hold it.
type LANKey struct {
	User model.UserID
	Key  []byte
}

// lanTag is the HMAC of a proof: role ("dial" or "accept"), the
// dialler's nonce and both peer ids (Noise-authenticated, so a proof
// cannot be replayed on another connection).
func lanTag(key []byte, role string, nonce []byte, dialer, listener libp2ppeer.ID) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("segue-lan-" + role + "-v1\x00"))
	m.Write(nonce)
	m.Write([]byte(dialer))
	m.Write([]byte{0})
	m.Write([]byte(listener))
	return m.Sum(nil)
}

// proveKeys runs the key proof on a fresh stream, before the
// certificates. The dialler writes a 32-byte nonce, a 2-byte count and
// one 32-byte HMAC per key it holds (padded with random ones); the
// dialled side answers, when one of them is an HMAC under a key it
// holds, with its own HMAC under that key, and resets the stream
// otherwise. Neither writes anything that names its account before the
// other proved a key in common. It returns the users of the keys the
// peer proved (the peer's certificate must name one of them) and the
// nonce (the device keys sign it, exchangeCerts).
func (n *Node) proveKeys(c *streamConn, dialer bool, remote libp2ppeer.ID) ([]model.UserID, []byte, error) {
	local := n.h.ID()
	n.mu.Lock()
	keys := n.keys // SetLANKeys replaces the slice, never changes it
	n.mu.Unlock()
	if dialer {
		nonce := make([]byte, 32)
		if _, err := rand.Read(nonce); err != nil {
			return nil, nil, err
		}
		count := (len(keys) + lanProofPad - 1) / lanProofPad * lanProofPad
		buf := make([]byte, 0, 34+count*sha256.Size)
		buf = append(buf, nonce...)
		buf = binary.BigEndian.AppendUint16(buf, uint16(count))
		for _, k := range keys {
			buf = append(buf, lanTag(k.Key, "dial", nonce, local, remote)...)
		}
		pad := make([]byte, (count-len(keys))*sha256.Size)
		if _, err := rand.Read(pad); err != nil {
			return nil, nil, err
		}
		buf = append(buf, pad...)
		if err := c.writeRaw(buf); err != nil {
			return nil, nil, err
		}
		got := make([]byte, sha256.Size)
		if _, err := io.ReadFull(c.r, got); err != nil {
			return nil, nil, fmt.Errorf("p2p: read key proof of %s (a peer holding no LAN key in common with this device ends the stream): %w", remote, err)
		}
		for _, k := range keys {
			if hmac.Equal(got, lanTag(k.Key, "accept", nonce, local, remote)) {
				return []model.UserID{k.User}, nonce, nil
			}
		}
		return nil, nil, ErrNoCommonKey
	}
	head := make([]byte, 34)
	if _, err := io.ReadFull(c.r, head); err != nil {
		return nil, nil, fmt.Errorf("p2p: read key proofs of %s: %w", remote, err)
	}
	nonce, count := head[:32], int(binary.BigEndian.Uint16(head[32:]))
	if count > MaxLANKeys {
		return nil, nil, fmt.Errorf("%w: %d proofs, limit %d", ErrNoCommonKey, count, MaxLANKeys)
	}
	proofs := make([]byte, count*sha256.Size)
	if _, err := io.ReadFull(c.r, proofs); err != nil {
		return nil, nil, fmt.Errorf("p2p: read key proofs of %s: %w", remote, err)
	}
	got := make(map[string]bool, count)
	for p := range slices.Chunk(proofs, sha256.Size) {
		got[string(p)] = true
	}
	var users []model.UserID
	var first []byte // the node's own account's key comes first (New)
	for _, k := range keys {
		if got[string(lanTag(k.Key, "dial", nonce, remote, local))] {
			users = append(users, k.User)
			if first == nil {
				first = k.Key
			}
		}
	}
	if first == nil {
		return nil, nil, ErrNoCommonKey
	}
	return users, nonce, c.writeRaw(lanTag(first, "accept", nonce, remote, local))
}

// checkLANKeys returns an error unless keys are one to MaxLANKeys keys
// of LANKeySize bytes each, naming a user.
func checkLANKeys(keys []LANKey) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: none given (WithLANKeys)", ErrBadLANKey)
	}
	if len(keys) > MaxLANKeys {
		return fmt.Errorf("%w: %d LAN keys, limit %d", ErrBadLANKey, len(keys), MaxLANKeys)
	}
	for _, k := range keys {
		if len(k.Key) != LANKeySize || k.User == "" {
			return fmt.Errorf("%w: key of %d bytes for user %q", ErrBadLANKey, len(k.Key), k.User)
		}
	}
	return nil
}

// SetLANKeys replaces the node's LAN keys (as WithLANKeys; keys New
// would refuse are ErrBadLANKey and change nothing): later streams
// prove these. A running session with a peer whose user no key names
// any more ends at once (a collaborator removed from every shared
// playlist); the others go on, whichever key of their user they proved
// (a key of the same user replaced by a newer one, a rotation, ends
// nothing: the peer's certificate, checked at the start, still names
// that user). It reports how many sessions it ended.
func (n *Node) SetLANKeys(keys ...LANKey) (int, error) {
	if err := checkLANKeys(keys); err != nil {
		return 0, err
	}
	keys = n.ownFirst(keys)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keys = keys
	ended := 0
	for _, s := range n.sessions {
		if !holdsKeyOf(keys, s.status.User) {
			s.reset()
			ended++
		}
	}
	if ended > 0 {
		n.opts.log.Info("p2p: LAN keys withdrawn; sessions ended", "sessions", ended)
	}
	return ended, nil
}

// ownFirst returns a copy of keys with those of the own account first:
// of the keys a dialler proved, the dialled side answers with the first
// it holds (proveKeys).
func (n *Node) ownFirst(keys []LANKey) []LANKey {
	keys = slices.Clone(keys)
	slices.SortStableFunc(keys, func(a, b LANKey) int {
		return cmpBool(b.User == n.user, a.User == n.user)
	})
	return keys
}

// holdsKeyOf reports whether one of keys is user's.
func holdsKeyOf(keys []LANKey, user model.UserID) bool {
	return slices.ContainsFunc(keys, func(k LANKey) bool { return k.User == user })
}
