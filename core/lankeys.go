package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/p2p"
)

// ErrNoLANKeys is returned by StartLAN when the device holds no LAN key
// of its own account: it never reached a relay that gives them (POST
// /v1/devices/lan-keys) since it registered.
var ErrNoLANKeys = errors.New("core: no LAN keys on this device (reach the relay once, e.g. segue sync now)")

// lanKeysKey is the store key of the LAN keys the relay last gave this
// device (api.LANKeysResponse, JSON).
var lanKeysKey = []byte("cfg/lan-keys")

// fetchLANKeys asks the relay for the LAN keys of this device's account
// and of the users in with, and stores them at cfg/lan-keys.
func (e *Engine) fetchLANKeys(ctx context.Context, user model.UserID, with []model.UserID) error {
	var out api.LANKeysResponse
	if err := e.call(ctx, "POST", "/v1/devices/lan-keys", api.LANKeysRequest{With: with}, &out, true); err != nil {
		return fmt.Errorf("fetch LAN keys: %w", err)
	}
	if len(out.Keys) == 0 || out.Keys[0].User != user {
		return fmt.Errorf("fetch LAN keys: %w: no key of %s first", ErrBadResponse, user)
	}
	for _, k := range out.Keys {
		if len(k.Key) != p2p.LANKeySize {
			return fmt.Errorf("fetch LAN keys: %w: key of %d bytes for %s", ErrBadResponse, len(k.Key), k.User)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode LAN keys: %w", err)
	}
	if err := e.st.Set(ctx, lanKeysKey, b); err != nil {
		return fmt.Errorf("store LAN keys: %w", err)
	}
	return nil
}

// lanPeers returns the other users this device may sync with over the
// LAN: the collaborators of the playlists it holds that this user owns,
// and the owner and other collaborators of those it collaborates on
// (sorted, at most api.MaxLANKeyUsers). A follower of a public playlist
// who is not a collaborator is not among them: public playlists reach
// their followers through the relay.
func (d *Docs) lanPeers(ctx context.Context) ([]model.UserID, error) {
	pls, err := d.Playlists().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list playlists: %w", err)
	}
	seen := map[model.UserID]bool{}
	for _, p := range pls {
		if p.Info.Owner != d.user && !slices.Contains(p.Info.Collaborators, d.user) {
			continue
		}
		for _, u := range append([]model.UserID{p.Info.Owner}, p.Info.Collaborators...) {
			if u != d.user && u != "" {
				seen[u] = true
			}
		}
	}
	out := make([]model.UserID, 0, len(seen))
	for u := range seen {
		out = append(out, u)
	}
	slices.Sort(out)
	if len(out) > api.MaxLANKeyUsers {
		d.e.log.Warn("core: more accounts share playlists with this one than LAN keys; some sync through the relay only", "accounts", len(out), "limit", api.MaxLANKeyUsers)
		out = out[:api.MaxLANKeyUsers]
	}
	return out, nil
}

// LANRelayTimeout bounds how long StartLAN waits for the relay: it
// renews a device certificate that is due and fetches the LAN keys at
// once, and starts with the stored ones when the relay has not answered
// by then (LAN sync works without a relay).
const LANRelayTimeout = 5 * time.Second

// renewForLAN asks the relay, both at once and within LANRelayTimeout
// in all, for a fresh device certificate when renewCert (and the stored
// one is older than CertRefreshAge, refreshDeviceCert) and for the LAN
// keys of this account and of peers (fetchLANKeys, with a token only).
// A request that fails or times out is logged: the stored certificate
// and keys stay in use.
func (d *Docs) renewForLAN(ctx context.Context, renewCert bool, peers []model.UserID) {
	ctx, cancel := context.WithTimeout(ctx, LANRelayTimeout)
	defer cancel()
	var wg sync.WaitGroup
	if renewCert {
		wg.Go(func() {
			if err := d.e.refreshDeviceCert(ctx); err != nil {
				d.e.log.Info("core: device certificate not renewed; LAN peers refuse it once it is 30 days old", "err", err)
			}
		})
	}
	if d.e.Token() != "" {
		wg.Go(func() {
			if err := d.e.fetchLANKeys(ctx, d.user, peers); err != nil {
				d.e.log.Info("core: LAN keys not refreshed; using the stored ones", "err", err)
			}
		})
	}
	wg.Wait()
}

// storedLANKeys returns the LAN keys for a node from those the relay
// last gave (cfg/lan-keys): the own account's key and those of peers
// (lanPeers now), so a collaborator removed from every shared playlist
// is no longer shown who this device is, even with the relay down.
// Without a stored key of the own account it returns ErrNoLANKeys.
func (d *Docs) storedLANKeys(ctx context.Context, peers []model.UserID) ([]p2p.LANKey, error) {
	raw, err := d.e.st.Get(ctx, lanKeysKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoLANKeys
	}
	if err != nil {
		return nil, fmt.Errorf("core: read LAN keys: %w", err)
	}
	var stored api.LANKeysResponse
	if err := json.Unmarshal(raw, &stored); err != nil {
		return nil, fmt.Errorf("core: read LAN keys: %w", err)
	}
	var out []p2p.LANKey
	for _, k := range stored.Keys {
		if k.User == d.user || slices.Contains(peers, k.User) {
			out = append(out, p2p.LANKey{User: k.User, Key: k.Key})
		}
	}
	if !slices.ContainsFunc(out, func(k p2p.LANKey) bool { return k.User == d.user }) {
		return nil, ErrNoLANKeys
	}
	return out, nil
}

// RefreshLANKeys asks the relay for the LAN keys now (within
// LANRelayTimeout; stored at cfg/lan-keys) and gives the running LAN
// node, if any, the stored keys of its own account and of the users its
// playlists relate it to now (lanPeers; p2p.Node.SetLANKeys): sessions
// with a user it holds no key of any more end, the others go on. The
// node takes the stored keys even when the relay does not answer; the
// relay's error is returned then. A running node also refreshes its
// keys by itself: every WithLANKeyRefresh, and when a change of the
// playlists changes lanPeers.
func (d *Docs) RefreshLANKeys(ctx context.Context) error {
	ctx, done, err := d.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	_, err = d.refreshLANKeys(ctx, true)
	return err
}

// refreshLANKeys computes lanPeers, fetches the keys from the relay
// when fetch (or when a user of lanPeers has no stored key) and gives
// the running node the stored keys of lanPeers. It returns the peers it
// applied and the first error, the relay's included.
func (d *Docs) refreshLANKeys(ctx context.Context, fetch bool) ([]model.UserID, error) {
	peers, err := d.lanPeers(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := d.storedLANKeys(ctx, peers)
	if err != nil && !errors.Is(err, ErrNoLANKeys) {
		return nil, err
	}
	var fetchErr error
	missing := slices.ContainsFunc(append([]model.UserID{d.user}, peers...), func(u model.UserID) bool {
		return !slices.ContainsFunc(keys, func(k p2p.LANKey) bool { return k.User == u })
	})
	if (fetch || missing) && d.e.Token() != "" {
		rctx, cancel := context.WithTimeout(ctx, LANRelayTimeout)
		fetchErr = d.e.fetchLANKeys(rctx, d.user, peers)
		cancel()
		if keys, err = d.storedLANKeys(ctx, peers); err != nil {
			return nil, errors.Join(fetchErr, err)
		}
	}
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	n := d.node
	d.mu.Unlock()
	if n != nil {
		if ended, err := n.SetLANKeys(keys...); err != nil {
			return nil, fmt.Errorf("core: give the LAN node its keys: %w", err)
		} else if ended > 0 {
			d.e.log.Info("core: LAN sessions ended: their users share no playlist with this one any more", "sessions", ended)
		}
	}
	return peers, fetchErr
}

// drain takes the events already pending on events without waiting (a
// sync that brings many documents computes lanPeers once, not once per
// document); false when events is closed.
func drain[T any](events <-chan T) bool {
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return false
			}
		default:
			return true
		}
	}
}

// lanKeysLoop keeps a running LAN node's keys current until ctx ends:
// it refreshes them from the relay every WithLANKeyRefresh (by the
// engine's clock), and from the stored ones (the relay asked only for
// users it holds no key of) after a change of a document changes
// lanPeers. peers are the users the node's keys were computed for.
func (d *Docs) lanKeysLoop(ctx context.Context, peers []model.UserID) {
	events, unsubscribe := d.repo.Subscribe(docs.DocumentID{})
	defer unsubscribe()
	var due <-chan time.Time
	if every := d.e.opts.lanKeyRefresh; every > 0 {
		due = d.e.after(every)
	}
	for {
		fetch := false
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok || !drain(events) {
				return
			}
			now, err := d.lanPeers(ctx)
			if err != nil || slices.Equal(now, peers) {
				continue
			}
		case <-due:
			fetch = true
		}
		now, err := d.refreshLANKeys(ctx, fetch)
		if err != nil && ctx.Err() == nil {
			d.e.log.Info("core: LAN keys not refreshed", "err", err)
		}
		if fetch {
			// The next refresh is timed from this one's end, so the
			// schedule's timer asked for means the keys are in place.
			due = d.e.after(d.e.opts.lanKeyRefresh)
		}
		if now != nil {
			peers = now
		}
	}
}
