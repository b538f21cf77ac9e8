package download

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"slices"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// loadLicensesLocked opens every stored license envelope (verifying the
// catalog signature and the device binding, unwrapping keys in memory)
// and indexes them by (track, tier), preferring the latest expiry. An
// envelope that no longer opens is dropped from the store. Caller holds
// m.licMu.
func (m *Manager) loadLicensesLocked(ctx context.Context) error {
	if m.lics != nil {
		return nil
	}
	pub, err := m.d.CatalogKey(ctx)
	if err != nil {
		return fmt.Errorf("download: catalog key: %w", err)
	}
	lics := map[string]*crypto.License{}
	var bad [][]byte
	err = m.d.Store.Iterate(ctx, []byte(pLic), false, func(k, v []byte) error {
		l, err := crypto.OpenLicense(pub, m.d.Identity, v)
		if err != nil {
			m.log.Warn("download: stored license rejected", "key", string(k), "err", err)
			bad = append(bad, append([]byte(nil), k...))
			return nil
		}
		lics[l.ID] = l
		return nil
	})
	if err != nil {
		return fmt.Errorf("download: load licenses: %w", err)
	}
	for _, k := range bad {
		if err := m.d.Store.Delete(ctx, k); err != nil {
			return fmt.Errorf("download: drop license: %w", err)
		}
	}
	byTT := map[trackTier]*crypto.License{}
	for _, l := range lics {
		m.observeStored(ctx, l.ServerTime)
		for _, e := range l.Entries {
			tt := trackTier{e.TrackID, e.Tier}
			if cur, ok := byTT[tt]; !ok || l.Expires.After(cur.Expires) {
				byTT[tt] = l
			}
		}
	}
	m.lics, m.byTT = lics, byTT
	return nil
}

// licensed reports whether a stored license covers tt (expired or not).
func (m *Manager) licensed(ctx context.Context, tt trackTier) bool {
	m.licMu.Lock()
	defer m.licMu.Unlock()
	if m.loadLicensesLocked(ctx) != nil {
		return false
	}
	_, ok := m.byTT[tt]
	return ok
}

// license requests one license for tracks at tier, answered per track
// (api.IssueRequest.PerTrack), and stores it. It returns the tracks the
// relay reported unavailable, in request order; the license covers every
// other one. A transient failure (no relay reached, a 5xx, a refusal)
// fails the whole call as before, and so does a relay that predates
// per-track answers when a track is unknown (it answers the bare
// envelope, or an error for the whole request).
func (m *Manager) license(ctx context.Context, tracks []model.TrackID, tier model.Tier) ([]Unavailable, error) {
	pub, err := m.d.CatalogKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog key: %w", err)
	}
	nonce := newNonce()
	a, st, err := m.rc.licenseCall(ctx, pub, m.d.Identity.DeviceID(), "/v1/licenses",
		api.IssueRequest{Tracks: tracks, Tier: tier, Nonce: nonce, PerTrack: true}, nonce, true)
	if st.Time != 0 {
		m.observe(ctx, msTime(st.Time))
	}
	if err != nil {
		return nil, fmt.Errorf("license: %w", err)
	}
	env, unavailable, err := issueAnswer(a, tracks)
	if err != nil {
		return nil, fmt.Errorf("license: %w", err)
	}
	if env == nil {
		return unavailable, nil
	}
	skip := make(map[model.TrackID]bool, len(unavailable))
	for _, u := range unavailable {
		skip[u.Track] = true
	}
	covers := func(l *crypto.License) error {
		got := make(map[model.TrackID]bool, len(l.Entries))
		for _, e := range l.Entries {
			if e.Tier == tier {
				got[e.TrackID] = true
			}
		}
		for _, t := range tracks {
			if !skip[t] && !got[t] {
				return fmt.Errorf("%w: license lacks track %s/%s", ErrBadResponse, t, tier)
			}
		}
		return nil
	}
	if err := m.storeLicenses(ctx, env, nil, covers); err != nil {
		return nil, fmt.Errorf("license: %w", err)
	}
	return unavailable, nil
}

// maxReason bounds an unavailable track's reason from the relay.
const maxReason = 32

// issueAnswer reads the answer to a per-track license request for
// tracks: the license envelope (nil when the relay could license none)
// and the tracks it reported unavailable. An answer that is not an
// api.IssueAnswer is the bare envelope of a relay before per-track
// answers. Every reported track must have been asked for, once, with a
// reason of lowercase letters and '_' (unknown reasons are kept: the
// relay may know more than this device); anything else is
// ErrBadResponse.
func issueAnswer(a answer, tracks []model.TrackID) ([]byte, []Unavailable, error) {
	if mt, _, _ := mime.ParseMediaType(a.ctype); mt != api.IssueAnswerType {
		return a.body, nil, nil
	}
	var ans api.IssueAnswer
	if err := strictDec.Unmarshal(a.body, &ans); err != nil {
		return nil, nil, fmt.Errorf("%w: issue answer: %v", ErrBadResponse, err)
	}
	asked := make(map[model.TrackID]bool, len(tracks))
	for _, t := range tracks {
		asked[t] = true
	}
	out := make([]Unavailable, 0, len(ans.Unavailable))
	for _, u := range ans.Unavailable {
		if !asked[u.Track] {
			return nil, nil, fmt.Errorf("%w: track %q reported unavailable was not asked for", ErrBadResponse, u.Track)
		}
		if !validReason(u.Reason) {
			return nil, nil, fmt.Errorf("%w: track %s unavailable for reason %q", ErrBadResponse, u.Track, u.Reason)
		}
		asked[u.Track] = false // each once
		out = append(out, Unavailable{Track: u.Track, Reason: u.Reason})
	}
	if len(ans.License) > 0 {
		return ans.License, out, nil
	}
	if len(out) < len(asked) {
		return nil, nil, fmt.Errorf("%w: no license for the tracks not reported unavailable", ErrBadResponse)
	}
	return nil, out, nil
}

// validReason reports whether r is a reason token: 1…maxReason lowercase
// ASCII letters and '_'.
func validReason(r string) bool {
	if r == "" || len(r) > maxReason {
		return false
	}
	for i := 0; i < len(r); i++ {
		if (r[i] < 'a' || r[i] > 'z') && r[i] != '_' {
			return false
		}
	}
	return true
}

// storeLicenses verifies env (a license for this device, signed by the
// catalog key, and passing check when check is non-nil), then stores it
// and deletes the superseded licenses in one transaction.
func (m *Manager) storeLicenses(ctx context.Context, env []byte, supersede []string, check func(*crypto.License) error) error {
	pub, err := m.d.CatalogKey(ctx)
	if err != nil {
		return fmt.Errorf("catalog key: %w", err)
	}
	l, err := crypto.OpenLicense(pub, m.d.Identity, env)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if check != nil {
		if err := check(l); err != nil {
			return err
		}
	}
	m.observe(ctx, l.ServerTime)
	reg := m.registration()
	// licMu is held from the write until memory agrees with the store,
	// as in revoke: a ContentKey in between sees both old or both new.
	m.licMu.Lock()
	defer m.licMu.Unlock()
	err = m.d.Store.Update(ctx, func(tx store.Txn) error {
		for _, id := range supersede {
			if err := tx.Delete([]byte(pLic + id)); err != nil {
				return err
			}
		}
		b, err := detEnc.Marshal(stateRec{Reg: reg})
		if err != nil {
			return err
		}
		if err := tx.Set([]byte(kState), b); err != nil {
			return err
		}
		return tx.Set([]byte(pLic+l.ID), env)
	})
	if err != nil {
		return fmt.Errorf("store license: %w", err)
	}
	m.lics, m.byTT = nil, nil
	m.mu.Lock()
	m.state = stateRec{Reg: reg}
	m.mu.Unlock()
	return nil
}

// registration identifies the device's current registration: a hash of
// its relay token (which changes only when it registers), "" when it has
// none.
func (m *Manager) registration() string {
	if m.d.Token == nil {
		return ""
	}
	tok := m.d.Token()
	if tok == "" {
		return ""
	}
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:16])
}

// Renew renews every license of this device in one request, signed by the
// device key. Entries whose downloads were removed are listed as dropped
// (signed too), so the renewed license covers only what the device still
// downloads; when nothing is left, the stored licenses are deleted and no
// request is made. On success the new license replaces all others. A
// signed refusal because the device was deregistered deletes every
// license (ErrRevoked, as is every Renew after it until a new license
// is issued); a refusal for the subscription is
// ErrRenewalRefused and leaves the licenses to run out (the scheduler
// asks again RefusedRetry later). Unreachable
// relays give fetch.ErrOffline.
func (m *Manager) Renew(ctx context.Context) error {
	if err := m.open(); err != nil {
		return err
	}
	return m.renew(ctx)
}

// renew is Renew, for the scheduler too (which may run it while Close
// cancels it).
func (m *Manager) renew(ctx context.Context) error {
	ids, err := m.licenseIDs(ctx)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	if m.listed != nil {
		m.listed()
	}
	drop, keep, err := m.dropped(ctx)
	if err != nil {
		return err
	}
	if keep == 0 {
		return m.deleteLicenses(ctx, ids)
	}
	pub, err := m.d.CatalogKey(ctx)
	if err != nil {
		return fmt.Errorf("download: catalog key: %w", err)
	}
	dev := m.d.Identity.DeviceID()
	nonce := newNonce()
	msg, err := crypto.RenewMessage(dev, nonce, ids, drop)
	if err != nil {
		return fmt.Errorf("download: renew: %w", err)
	}
	req := api.RenewRequest{Device: dev, LicenseIDs: ids, Drop: drop, Nonce: nonce, Sig: m.d.Identity.Sign(msg)}
	a, st, err := m.rc.licenseCall(ctx, pub, dev, "/v1/licenses/renew", req, nonce, false)
	// The relay's answer is applied whatever becomes of ctx meanwhile (the
	// app closing): it has revoked the device, or replaced its licenses.
	actx := context.WithoutCancel(ctx)
	if st.Time != 0 {
		m.observe(actx, msTime(st.Time))
	}
	var ref *refusal
	if errors.As(err, &ref) {
		if ref.status == api.StatusRevoked {
			return m.revoke(actx)
		}
		m.mu.Lock()
		reg := m.state.Reg
		m.mu.Unlock()
		m.setState(actx, stateRec{Refused: ref.status, At: m.TrustedNow(actx).UnixMilli(), Reg: reg})
		m.emit(Event{Kind: EventRenewalRefused, Reason: ref.status})
		return fmt.Errorf("%w: %s", ErrRenewalRefused, ref.status)
	}
	if err != nil {
		return fmt.Errorf("download: renew: %w", err)
	}
	if err := m.storeLicenses(actx, a.body, ids, nil); err != nil {
		return fmt.Errorf("download: renew: %w", err)
	}
	m.emit(Event{Kind: EventRenewed})
	return nil
}

// licenseIDs returns the ids of the stored licenses, or ErrRevoked after
// a revocation (a license issued since would have cleared it). The state
// and the list are read under licMu, which revoke holds from its store
// write until memory agrees: read apart, a renewal racing a revocation
// found the licenses deleted and the state not yet revoked, and reported
// success with nothing to renew.
func (m *Manager) licenseIDs(ctx context.Context) ([]string, error) {
	m.licMu.Lock()
	defer m.licMu.Unlock()
	if m.revokedLocked() {
		return nil, ErrRevoked
	}
	var ids []string
	err := m.d.Store.Iterate(ctx, []byte(pLic), false, func(k, _ []byte) error {
		ids = append(ids, string(k[len(pLic):]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("download: list licenses: %w", err)
	}
	return ids, nil
}

// dropped returns the licensed (track, tier) entries with no download
// job (removed since they were licensed), sorted, and how many licensed
// entries still have one.
//
// After a revocation it returns ErrRevoked, read under licMu as
// licenseIDs does: a revocation between the two would otherwise leave no
// licenses here and the renewal would report success with nothing kept.
func (m *Manager) dropped(ctx context.Context) ([]api.Entry, int, error) {
	m.licMu.Lock()
	if m.revokedLocked() {
		m.licMu.Unlock()
		return nil, 0, ErrRevoked
	}
	err := m.loadLicensesLocked(ctx)
	var tts []trackTier
	for tt := range m.byTT {
		tts = append(tts, tt)
	}
	m.licMu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	var drop []api.Entry
	keep := 0
	m.mu.Lock()
	for _, tt := range tts {
		if _, ok := m.jobs[tt]; ok {
			keep++
		} else {
			drop = append(drop, api.Entry{Track: tt.track, Tier: tt.tier})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(drop, func(a, b api.Entry) int {
		return cmp.Or(cmp.Compare(a.Track, b.Track), cmp.Compare(a.Tier, b.Tier))
	})
	return drop, keep, nil
}

// deleteLicenses deletes the stored licenses ids (nothing they cover is
// downloaded any more).
func (m *Manager) deleteLicenses(ctx context.Context, ids []string) error {
	err := m.d.Store.Update(ctx, func(tx store.Txn) error {
		for _, id := range ids {
			if err := tx.Delete([]byte(pLic + id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("download: delete licenses: %w", err)
	}
	m.licMu.Lock()
	defer m.licMu.Unlock()
	m.lics, m.byTT = nil, nil
	if m.revokedLocked() {
		return ErrRevoked
	}
	return nil
}

// revokedLocked reports whether the device's licenses were revoked; the
// caller holds licMu, which revoke holds until the state says so.
func (m *Manager) revokedLocked() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state.Revoked
}

// revoke deletes every license after a signed revocation. It holds
// licMu from the write until the in-memory state says revoked, so a
// concurrent ContentKey answers from the licenses or ErrRevoked, never
// ErrNotLicensed from a half-applied revocation.
func (m *Manager) revoke(ctx context.Context) error {
	b, err := detEnc.Marshal(stateRec{Revoked: true})
	if err != nil {
		return err
	}
	m.licMu.Lock()
	err = m.d.Store.Update(ctx, func(tx store.Txn) error {
		var keys [][]byte
		if err := tx.Iterate([]byte(pLic), false, func(k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return tx.Set([]byte(kState), b)
	})
	if err != nil {
		m.licMu.Unlock()
		return fmt.Errorf("download: revoke: %w", err)
	}
	m.lics, m.byTT = nil, nil
	m.mu.Lock()
	m.state = stateRec{Revoked: true}
	m.mu.Unlock()
	m.licMu.Unlock()
	m.log.Warn("download: device deregistered; offline licenses deleted")
	m.emit(Event{Kind: EventRenewalRefused, Reason: api.StatusRevoked})
	return ErrRevoked
}

func (m *Manager) setState(ctx context.Context, s stateRec) {
	m.mu.Lock()
	m.state = s
	m.mu.Unlock()
	if b, err := detEnc.Marshal(s); err == nil {
		if err := m.d.Store.Set(ctx, []byte(kState), b); err != nil {
			m.log.Warn("download: save license state", "err", err)
		}
	}
}

// RefusedRetry is how long after a refused renewal (subscription expired
// or cancelled) the manager asks again on its own: a subscription made
// active again then renews the licenses before they run out, without the
// app calling Renew (it stopped renewing for good after one refusal).
const RefusedRetry = 6 * time.Hour

// renewalDue reports whether a license expires within the renew-ahead
// window by trusted time, or the licenses predate the device's current
// registration (it registered again: its deregistration, if any, voided
// them, which only a renewal learns), unless the device was revoked or
// renewal was refused less than RefusedRetry ago.
func (m *Manager) renewalDue(ctx context.Context) bool {
	m.mu.Lock()
	st := m.state
	m.mu.Unlock()
	if st.Revoked {
		return false
	}
	now := m.TrustedNow(ctx)
	if st.Refused != "" && now.Sub(time.UnixMilli(st.At)) < RefusedRetry {
		return false
	}
	m.licMu.Lock()
	defer m.licMu.Unlock()
	if m.loadLicensesLocked(ctx) != nil {
		return false
	}
	if reg := m.registration(); len(m.lics) > 0 && reg != "" && reg != st.Reg {
		return true
	}
	for _, l := range m.lics {
		if !now.Add(m.opts.renewAhead).Before(l.Expires) {
			return true
		}
	}
	return false
}

// ContentKey returns the content key of a downloaded (track, tier) from
// its offline license, checked against trusted time: ErrNotDownloaded
// when it is not completely downloaded, ErrRevoked after deregistration,
// ErrNotLicensed without a license, ErrLicenseExpired past expiry plus
// grace, ErrClosed once Close began. The key stays in memory; the caller
// must not persist it.
func (m *Manager) ContentKey(ctx context.Context, track model.TrackID, tier model.Tier) (crypto.ContentKey, error) {
	if err := m.open(); err != nil {
		return crypto.ContentKey{}, err
	}
	tt := trackTier{track, tier}
	if !m.Downloaded(track, tier) {
		return crypto.ContentKey{}, fmt.Errorf("%w: %s/%s", ErrNotDownloaded, track, tier)
	}
	now := m.TrustedNow(ctx)
	m.licMu.Lock()
	defer m.licMu.Unlock()
	// The state is read under licMu: revoke and storeLicenses change
	// licenses and state together while they hold it.
	m.mu.Lock()
	revoked := m.state.Revoked
	m.mu.Unlock()
	if revoked {
		return crypto.ContentKey{}, ErrRevoked
	}
	if err := m.loadLicensesLocked(ctx); err != nil {
		return crypto.ContentKey{}, err
	}
	l, ok := m.byTT[tt]
	if !ok {
		return crypto.ContentKey{}, fmt.Errorf("%w: %s/%s", ErrNotLicensed, track, tier)
	}
	if err := l.Check(now); err != nil {
		return crypto.ContentKey{}, fmt.Errorf("%w (%w)", ErrLicenseExpired, err)
	}
	return l.ContentKey(track, tier)
}

// ObserveStatement verifies a relay statement header (the value of
// Segue-Statement: signed by the catalog key, for this device, echoing
// nonce, status ok) and feeds its server time to the trusted clock. The
// engine calls it with the statements of stream-key answers. Anything
// that does not verify is ErrBadResponse and changes nothing; a closed
// manager returns ErrClosed.
func (m *Manager) ObserveStatement(ctx context.Context, header string, nonce []byte) error {
	if err := m.open(); err != nil {
		return err
	}
	if len(nonce) == 0 {
		return fmt.Errorf("%w: statement without a request nonce", ErrBadResponse)
	}
	pub, err := m.d.CatalogKey(ctx)
	if err != nil {
		return fmt.Errorf("download: catalog key: %w", err)
	}
	st, err := parseStatement(pub, header, m.d.Identity.DeviceID(), nonce)
	if err != nil {
		return err
	}
	if st.Status != api.StatusOK {
		return fmt.Errorf("%w: statement status %q", ErrBadResponse, st.Status)
	}
	m.observe(ctx, msTime(st.Time))
	return nil
}

// observe feeds a verified server time to the trusted clock and persists
// it.
func (m *Manager) observe(ctx context.Context, t time.Time) {
	m.clkMu.Lock()
	used := m.clock.Observe(t, m.mono())
	m.clkMu.Unlock()
	if used {
		m.saveClock(ctx)
	}
}

// observeStored feeds the server time of a stored license to the
// trusted clock as a floor only: it is an old statement that anyone with
// the disk can replay, not a fresh answer, so it moves trusted time
// forward (a wall clock wound back after the clock record was lost) but
// never back. Observed as a fresh time, it re-anchored the clock at the
// license's issue time whenever dl/clock was deleted or damaged, which
// revived an expired license.
func (m *Manager) observeStored(ctx context.Context, t time.Time) {
	m.clkMu.Lock()
	used := t.After(m.clock.Now(m.opts.wall(), m.mono())) && m.clock.Observe(t, m.mono())
	m.clkMu.Unlock()
	if used {
		m.saveClock(ctx)
	}
}

// RaiseClock raises trusted time to t, a time another record of the
// device shows its trusted clock had reached (core: the end of the newest
// queued offline play, stamped with trusted time), and persists the
// clock; it never moves trusted time back. It limits how far a dl/
// record restored from a backup rolls the clock back. t is not a server
// time (crypto.TrustedClock.Raise): the relay's next signed time
// re-anchors the clock even below it, so a t from a device clock that
// ran ahead does not keep the downloads expired once the device is
// online.
func (m *Manager) RaiseClock(ctx context.Context, t time.Time) {
	m.clkMu.Lock()
	used := m.clock.Raise(t, m.opts.wall(), m.mono())
	m.clkMu.Unlock()
	if used {
		m.saveClock(ctx)
	}
}

// TrustedNow returns the trusted time (crypto.TrustedClock: the newest
// signed server time plus monotonic progress, never going backwards) and
// persists the clock.
func (m *Manager) TrustedNow(ctx context.Context) time.Time {
	m.clkMu.Lock()
	now := m.clock.Now(m.opts.wall(), m.mono())
	m.clkMu.Unlock()
	m.saveClock(ctx)
	return now
}

// saveClock persists the clock (persistClockLocked), logging a failure; a
// closed manager's clock is no longer saved, silently.
func (m *Manager) saveClock(ctx context.Context) {
	m.clkMu.Lock()
	defer m.clkMu.Unlock()
	if err := m.persistClockLocked(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, ErrClosed) {
		m.log.Warn("download: persist trusted clock", "err", err)
	}
}

// persistClockLocked writes the trusted clock (dl/clock) and, in the
// same update, its current time as the mark (dl/clockmark) a restored
// dl/clock cannot go below (loadClockMark). clkMu is held across the
// write, so writes land in the order of the clock states they carry.
// Once Close saved the clock for the last time it returns ErrClosed and
// writes nothing: the records belong to the manager opened next on the
// store, whose trusted time a closed manager's would set back.
func (m *Manager) persistClockLocked(ctx context.Context) error {
	if m.clockSaved {
		return ErrClosed
	}
	now := m.clock.Now(m.opts.wall(), m.mono())
	c, err := m.clock.MarshalBinary()
	if err != nil {
		return err
	}
	b, err := detEnc.Marshal(clockRec{BootID: m.opts.bootID, Clock: c, EpochStart: int64(m.epoch)})
	if err != nil {
		return err
	}
	ms := max(now.UnixMilli(), 0)
	mark := binary.BigEndian.AppendUint64(nil, uint64(ms))
	if err := m.d.Store.Update(ctx, func(tx store.Txn) error {
		if err := tx.Set([]byte(kClock), b); err != nil {
			return err
		}
		return tx.Set([]byte(kClockMark), mark)
	}); err != nil {
		return err
	}
	m.writeMarkFile(ms)
	return nil
}
