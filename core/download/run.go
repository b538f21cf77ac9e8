package download

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// blobsPerTrack bounds the blobs of one track in flight at once.
const blobsPerTrack = 4

// errJobGone: the job was removed while its blob was in flight.
var errJobGone = errors.New("download: job removed")

// run is the scheduler: resolve requests, download jobs with bounded
// concurrency, renew licenses, pause with backoff when offline or metered.
func (m *Manager) run(ctx context.Context) {
	defer close(m.done)
	var delay time.Duration
	for ctx.Err() == nil {
		if reason := m.blocked(); reason != "" {
			m.pause(reason)
			delay = m.backoff(delay)
			m.sleep(ctx, delay)
			continue
		}
		err := m.pass(ctx)
		if errors.Is(err, fetch.ErrOffline) {
			m.pause("offline")
			delay = m.backoff(delay)
			m.sleep(ctx, delay)
			continue
		}
		if err != nil && ctx.Err() == nil {
			m.log.Warn("download: pass failed", "err", err)
		}
		delay = 0
		m.resume()
		m.mu.Lock()
		work := m.hasWorkLocked()
		if !work {
			select {
			case <-m.idle:
			default:
				close(m.idle)
			}
		}
		m.mu.Unlock()
		if work && err == nil {
			continue
		}
		m.sleep(ctx, time.Hour)
	}
}

// sleep waits for d, a Nudge, or ctx.
func (m *Manager) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-m.wake:
	case <-ctx.Done():
	}
}

// blocked returns why downloads cannot run now, or "".
func (m *Manager) blocked() string {
	ns := m.opts.network()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.hasWorkLocked() {
		return ""
	}
	switch {
	case !ns.Online:
		return "offline"
	case ns.Metered && !m.allowMet:
		return "metered"
	}
	return ""
}

func (m *Manager) pause(reason string) {
	m.mu.Lock()
	changed := m.paused != reason
	m.paused = reason
	m.mu.Unlock()
	if changed {
		m.log.Info("download: paused", "reason", reason)
		m.emit(Event{Kind: EventPaused, Reason: reason})
	}
}

func (m *Manager) resume() {
	m.mu.Lock()
	was := m.paused
	m.paused = ""
	m.mu.Unlock()
	if was != "" {
		m.emit(Event{Kind: EventResumed})
	}
}

// pass does one round: resolve pending requests, download pending jobs,
// renew licenses when due. It returns fetch.ErrOffline when the relay
// could not be reached.
func (m *Manager) pass(ctx context.Context) error {
	m.mu.Lock()
	var pending []*itemRec
	for r, it := range m.items {
		if !it.Resolved && m.errs[r] == nil {
			pending = append(pending, it)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(pending, func(a, b *itemRec) int { return int(a.Added - b.Added) })
	for _, it := range pending {
		if err := m.resolve(ctx, it); err != nil {
			if errors.Is(err, fetch.ErrOffline) || ctx.Err() != nil {
				return err
			}
			m.mu.Lock()
			m.errs[it.ref()] = err
			m.mu.Unlock()
			m.log.Warn("download: request failed", "ref", it.ref().String(), "err", err)
			m.emit(Event{Kind: EventFailed, Ref: it.ref(), Err: err})
		}
	}
	if err := m.downloadAll(ctx); err != nil {
		return err
	}
	if m.renewalDue(ctx) {
		if err := m.Renew(ctx); err != nil && !errors.Is(err, ErrRenewalRefused) {
			return err
		}
	}
	return nil
}

// resolve expands a request to tracks, licenses the tracks not yet
// licensed, and records the request's tracks and job references in one
// transaction (new entries referenced, dropped entries released).
func (m *Manager) resolve(ctx context.Context, it *itemRec) error {
	r := it.ref()
	var tracks []model.TrackID
	switch r.Kind {
	case KindTrack:
		tracks = []model.TrackID{model.TrackID(r.ID)}
	case KindAlbum:
		var err error
		if tracks, err = m.rc.albumTracks(ctx, model.AlbumID(r.ID)); err != nil {
			return fmt.Errorf("resolve album: %w", err)
		}
	case KindPlaylist:
		var err error
		if tracks, err = m.opts.playlists(ctx, r.ID); err != nil {
			return fmt.Errorf("resolve playlist: %w", err)
		}
	}
	ids := make([]string, 0, len(tracks))
	seen := map[model.TrackID]bool{}
	var need []model.TrackID
	for _, t := range tracks {
		if seen[t] || !validID(string(t)) {
			continue
		}
		seen[t] = true
		ids = append(ids, string(t))
		if !m.licensed(ctx, trackTier{t, r.Tier}) {
			need = append(need, t)
		}
	}
	if len(need) > 0 {
		if err := m.license(ctx, need, r.Tier); err != nil {
			return err
		}
	}
	old := map[string]bool{}
	for _, t := range it.Tracks {
		old[t] = true
	}
	rec := *it
	rec.Tracks, rec.Resolved, rec.Err = ids, true, ""
	val, err := detEnc.Marshal(&rec)
	if err != nil {
		return err
	}
	var dropped []string
	err = m.d.Store.Update(ctx, func(tx store.Txn) error {
		dropped = dropped[:0]
		for _, t := range ids {
			if old[t] {
				continue
			}
			if err := refTx(tx, trackTier{model.TrackID(t), r.Tier}); err != nil {
				return err
			}
		}
		for _, t := range it.Tracks {
			if !seen[model.TrackID(t)] {
				dropped = append(dropped, t)
				if err := m.unrefTx(tx, trackTier{model.TrackID(t), r.Tier}); err != nil {
					return err
				}
			}
		}
		return tx.Set(itemKey(r), val)
	})
	if err != nil {
		return fmt.Errorf("record %s: %w", r, err)
	}
	m.refreshJobs(ctx, r.Tier, ids)
	m.refreshJobs(ctx, r.Tier, dropped)
	m.mu.Lock()
	m.items[r] = &rec
	m.mu.Unlock()
	m.emit(Event{Kind: EventResolved, Ref: r})
	return nil
}

// refTx adds one reference to a job, creating it.
func refTx(tx store.Txn, tt trackTier) error {
	var j jobRec
	b, err := tx.Get(jobKey(tt))
	switch {
	case err == nil:
		if err := strictDec.Unmarshal(b, &j); err != nil {
			return err
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	j.Refs++
	v, err := detEnc.Marshal(&j)
	if err != nil {
		return err
	}
	return tx.Set(jobKey(tt), v)
}

// downloadAll downloads every incomplete job, opts.workers at a time. The
// first fetch.ErrOffline cancels the others and is returned.
func (m *Manager) downloadAll(ctx context.Context) error {
	m.mu.Lock()
	var todo []trackTier
	for tt, j := range m.jobs {
		if !j.complete() && !m.active[tt] && m.failed[tt] == nil {
			todo = append(todo, tt)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(todo, func(a, b trackTier) int {
		if a.track < b.track {
			return -1
		}
		if a.track > b.track {
			return 1
		}
		return 0
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, m.opts.workers)
		mu      sync.Mutex
		offline error
	)
	for _, tt := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := m.downloadTrack(ctx, tt)
			switch {
			case err == nil, errors.Is(err, errJobGone):
			case errors.Is(err, fetch.ErrOffline):
				mu.Lock()
				offline = err
				mu.Unlock()
				cancel()
			case ctx.Err() != nil:
			default:
				m.mu.Lock()
				m.failed[tt] = err
				m.mu.Unlock()
				m.log.Warn("download: track failed", "track", tt.track, "tier", tt.tier, "err", err)
				m.emit(Event{Kind: EventFailed, Track: tt.track, Tier: tt.tier, Err: err})
			}
		})
	}
	wg.Wait()
	return offline
}

// downloadTrack fetches every blob of one job that is not done yet.
func (m *Manager) downloadTrack(ctx context.Context, tt trackTier) error {
	m.mu.Lock()
	if m.active[tt] {
		m.mu.Unlock()
		return nil
	}
	m.active[tt] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.active, tt)
		m.mu.Unlock()
	}()
	man, err := m.d.Fetcher.Manifest(ctx, tt.track, tt.tier)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	refs := make([]model.BlobRef, 0, len(man.Chunks)+1)
	refs = append(refs, man.Header)
	var total int64 = man.Header.Size
	for _, c := range man.Chunks {
		refs = append(refs, c.Blob)
		total += c.Blob.Size
	}
	m.mu.Lock()
	if j, ok := m.jobs[tt]; ok {
		j.Blobs, j.Bytes = len(refs), total
	}
	m.mu.Unlock()
	done := map[int]bool{}
	err = m.d.Store.Iterate(ctx, donePrefix(tt), false, func(k, _ []byte) error {
		if len(k) == len(donePrefix(tt))+4 {
			done[int(binary.BigEndian.Uint32(k[len(k)-4:]))] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read progress: %w", err)
	}
	// Blobs of one track download concurrently (blobsPerTrack at a time),
	// each committed with its done bit on its own: concurrent commits
	// share the store's sync, and a crash loses only blobs in flight.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		sem      = make(chan struct{}, blobsPerTrack)
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	for idx, ref := range refs {
		if done[idx] {
			continue
		}
		if reason := m.blocked(); reason != "" {
			if reason == "offline" {
				fail(fetch.ErrOffline)
			} else {
				fail(fmt.Errorf("download: paused: %s", reason))
			}
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			b, err := m.fetchBlob(ctx, man, idx, ref)
			if err != nil {
				fail(fmt.Errorf("blob %d: %w", idx, err))
				return
			}
			j, err := m.storeBlob(ctx, tt, idx, ref, b, len(refs), total)
			if err != nil {
				fail(err)
				return
			}
			m.emit(Event{Kind: EventProgress, Track: tt.track, Tier: tt.tier, BlobsDone: j.Done, Blobs: j.Blobs, BytesDone: j.DoneBytes, Bytes: j.Bytes})
			if j.complete() {
				m.emit(Event{Kind: EventTrackDone, Track: tt.track, Tier: tt.tier, BlobsDone: j.Done, Blobs: j.Blobs, BytesDone: j.DoneBytes, Bytes: j.Bytes})
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	j, ok := m.jobs[tt]
	var c jobRec
	if ok {
		c = *j
	}
	m.mu.Unlock()
	if ok && c.complete() && len(done) == len(refs) {
		// Every blob was done before this pass (a crash between the last
		// blob and its completion record): record completion now.
		return m.persistComplete(ctx, tt, c)
	}
	return nil
}

// fetchBlob returns blob idx (0 = header) verified against ref: from the
// streaming cache when it holds it, else from the origins in order.
func (m *Manager) fetchBlob(ctx context.Context, man *model.Manifest, idx int, ref model.BlobRef) ([]byte, error) {
	if m.d.Fetcher.Cached(ref) {
		var b []byte
		var err error
		if idx == 0 {
			b, err = m.d.Fetcher.Header(ctx, man)
		} else {
			b, err = m.d.Fetcher.Chunk(ctx, man, idx-1)
		}
		if err == nil {
			return b, nil
		}
	}
	req := fetch.Request{Kind: fetch.KindHeader, Track: man.TrackID, Tier: man.Tier, MaxSize: ref.Size, Hash: ref.SHA256}
	if idx > 0 {
		req.Kind, req.Index = fetch.KindChunk, idx-1
	}
	var errs []error
	answered := false
	for _, o := range m.d.Origins {
		b, err := o.Fetch(ctx, req)
		if err == nil {
			switch {
			case int64(len(b)) != ref.Size:
				err = fmt.Errorf("%w: %d bytes, manifest says %d", fetch.ErrIntegrity, len(b), ref.Size)
			case crypto.BlobHash(b) != ref.SHA256:
				err = fmt.Errorf("%w: sha-256 mismatch", fetch.ErrIntegrity)
			default:
				return b, nil
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var se *fetch.StatusError
		answered = answered || errors.As(err, &se) || errors.Is(err, fetch.ErrIntegrity) || errors.Is(err, fetch.ErrTooLarge)
		errs = append(errs, &fetch.OriginError{Origin: o.Name(), Request: req, Err: err})
	}
	if !answered {
		errs = append([]error{fetch.ErrOffline}, errs...)
	}
	return nil, errors.Join(errs...)
}

// storeBlob writes a verified blob, its reference and its done bit
// (hash ‖ u64 size) in one transaction, then counts it in memory; the
// job's record is rewritten only when the track completes, so concurrent
// blobs of one track never conflict.
func (m *Manager) storeBlob(ctx context.Context, tt trackTier, idx int, ref model.BlobRef, b []byte, blobs int, total int64) (jobRec, error) {
	fresh := false
	err := m.d.Store.Update(ctx, func(tx store.Txn) error {
		fresh = false
		if _, err := tx.Get(jobKey(tt)); errors.Is(err, store.ErrNotFound) {
			return errJobGone
		} else if err != nil {
			return err
		}
		if _, err := tx.Get(doneKey(tt, idx)); err == nil {
			return nil // already done (a concurrent pass)
		}
		n := uint32(0)
		switch rb, err := tx.Get(refKey(ref.SHA256)); {
		case err == nil && len(rb) == 4:
			n = binary.BigEndian.Uint32(rb)
		case err == nil, errors.Is(err, store.ErrNotFound):
		default:
			return err
		}
		if n == 0 {
			if err := tx.Set(blobKey(ref.SHA256), b); err != nil {
				return err
			}
		}
		if err := tx.Set(refKey(ref.SHA256), binary.BigEndian.AppendUint32(nil, n+1)); err != nil {
			return err
		}
		fresh = true
		return tx.Set(doneKey(tt, idx), binary.BigEndian.AppendUint64(append([]byte(nil), ref.SHA256[:]...), uint64(ref.Size)))
	})
	if err != nil {
		return jobRec{}, fmt.Errorf("store blob %d of %s/%s: %w", idx, tt.track, tt.tier, err)
	}
	m.mu.Lock()
	j, ok := m.jobs[tt]
	if !ok {
		m.mu.Unlock()
		return jobRec{}, errJobGone
	}
	j.Blobs, j.Bytes = blobs, total
	if fresh {
		j.Done++
		j.DoneBytes += ref.Size
	}
	c := *j
	m.mu.Unlock()
	if c.complete() {
		if err := m.persistComplete(ctx, tt, c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// persistComplete records a completed job's totals (keeping its
// reference count).
func (m *Manager) persistComplete(ctx context.Context, tt trackTier, c jobRec) error {
	err := m.d.Store.Update(ctx, func(tx store.Txn) error {
		b, err := tx.Get(jobKey(tt))
		if errors.Is(err, store.ErrNotFound) {
			return errJobGone
		}
		if err != nil {
			return err
		}
		var j jobRec
		if err := strictDec.Unmarshal(b, &j); err != nil {
			return err
		}
		j.Blobs, j.Bytes, j.Done, j.DoneBytes = c.Blobs, c.Bytes, c.Done, c.DoneBytes
		v, err := detEnc.Marshal(&j)
		if err != nil {
			return err
		}
		return tx.Set(jobKey(tt), v)
	})
	if err != nil {
		return fmt.Errorf("record %s/%s complete: %w", tt.track, tt.tier, err)
	}
	return nil
}
