package download

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// blobsPerWorker is how many blobs each worker keeps in flight: a pass
// shares workers × blobsPerWorker blob slots among the tracks it
// downloads (so the last tracks of a pass still fill every slot).
const blobsPerWorker = 4

// errJobGone: the job was removed while its blob was in flight.
var errJobGone = errors.New("download: job removed")

// errPaused: downloads were paused (offline mode, metered network) while
// a track was in progress; it resumes later and is not a failure.
var errPaused = errors.New("download: paused")

// run is the scheduler: reconcile blob files with the store once (then
// close reconciled, which Status waits for), then resolve requests,
// download jobs with bounded concurrency, renew licenses, pause with
// backoff when offline or metered, and hold while the app paused
// downloads (SetPaused) until it resumes them.
func (m *Manager) run(ctx context.Context) {
	defer close(m.done)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		m.committer(ctx)
	}()
	defer func() { <-committed }()
	if err := m.reconcile(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("download: reconcile blob files", "err", err)
	}
	close(m.reconciled)
	var delay time.Duration
	for ctx.Err() == nil {
		if reason := m.blocked(); reason != "" {
			m.pause(reason)
			if m.held() {
				m.sleep(ctx, time.Hour) // until SetPaused("") nudges
				continue
			}
			delay = m.backoff(delay)
			m.sleep(ctx, delay)
			continue
		}
		pctx, stop := context.WithCancel(ctx)
		m.mu.Lock()
		m.stopPass = stop
		m.mu.Unlock()
		err := m.pass(pctx)
		m.mu.Lock()
		m.stopPass = nil
		m.mu.Unlock()
		stopped := pctx.Err() != nil
		stop()
		if stopped {
			continue // paused by SetPaused, or closing
		}
		if errors.Is(err, fetch.ErrOffline) {
			m.pause("offline")
			delay = m.backoff(delay)
			m.sleep(ctx, delay)
			continue
		}
		if errors.Is(err, api.ErrRetryLater) {
			// The relay is busy (429/503): wait at least its Retry-After
			// (capped at api.MaxRetryAfter), then resume where the pass
			// stopped. Nothing failed.
			m.pause(PausedRelayBusy)
			delay = m.backoff(delay)
			after, _ := api.RetryAfter(err)
			m.log.Info("download: relay busy", "err", err, "retry_in", max(delay, after))
			m.sleep(ctx, max(delay, after))
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

// PausedRelayBusy is Status.Paused (and EventPaused's Reason) while the
// manager waits out the relay's temporary refusal (429/503, its
// Retry-After).
const PausedRelayBusy = "relay busy"

// sleep waits for d, a Nudge, or ctx.
func (m *Manager) sleep(ctx context.Context, d time.Duration) {
	var fired <-chan time.Time
	if timer := m.timer.Load(); timer != nil {
		fired = (*timer)(d)
	} else {
		t := time.NewTimer(d)
		defer t.Stop()
		fired = t.C
	}
	select {
	case <-fired:
	case <-m.wake:
	case <-ctx.Done():
	}
}

// held reports whether the app paused downloads (SetPaused).
func (m *Manager) held() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hold != ""
}

// blocked returns why downloads cannot run now, or "". An app pause
// blocks even without pending work, so that renewals wait too.
func (m *Manager) blocked() string {
	ns := m.opts.network()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hold != "" {
		return m.hold
	}
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

// pausedNow is blocked for a caller that has work in hand (a track being
// downloaded): the same reasons, without scanning every request and job.
func (m *Manager) pausedNow() string {
	ns := m.opts.network()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.hold != "":
		return m.hold
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
// could not be reached, and an api.ErrRetryLater when it refused for now
// (429/503).
func (m *Manager) pass(ctx context.Context) error {
	if err := m.repairCorrupt(ctx); err != nil {
		return err
	}
	m.relicense(ctx)
	m.mu.Lock()
	var pending []*itemRec
	for r, it := range m.items {
		if m.resolvableLocked(r, it) {
			pending = append(pending, it)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(pending, func(a, b *itemRec) int { return int(a.Added - b.Added) })
	for _, it := range pending {
		if err := m.resolve(ctx, it); err != nil {
			if errors.Is(err, fetch.ErrOffline) || errors.Is(err, api.ErrRetryLater) || ctx.Err() != nil {
				return err
			}
			if errors.Is(err, ErrNoPlaylists) {
				continue // the resolver was cleared meanwhile: it waits for the next
			}
			m.mu.Lock()
			m.errs[it.ref()] = err
			m.mu.Unlock()
			m.recordErr(ctx, it.ref(), err)
			m.log.Warn("download: request failed", "ref", it.ref().String(), "err", err)
			m.emit(Event{Kind: EventFailed, Ref: it.ref(), Err: err})
		}
	}
	if err := m.downloadAll(ctx); err != nil {
		return err
	}
	if m.renewalDue(ctx) {
		if err := m.renew(ctx); err != nil && !errors.Is(err, ErrRenewalRefused) {
			return err
		}
	}
	return nil
}

// relicense marks for resolving again the resolved requests holding
// tracks no stored license covers, so the resolve licenses them again:
// a license record that no longer opens (disk damage, a hand edit) was
// dropped as missing (loadLicensesLocked). Not after a revocation
// (the user adds the downloads again), nor when the licenses cannot be
// read.
func (m *Manager) relicense(ctx context.Context) {
	m.licMu.Lock()
	defer m.licMu.Unlock()
	if m.loadLicensesLocked(ctx) != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Revoked {
		return
	}
	for r, it := range m.items {
		if !it.Resolved || m.errs[r] != nil {
			continue
		}
		for _, t := range it.Tracks {
			if m.byTT[trackTier{model.TrackID(t), r.Tier}] != nil {
				continue
			}
			m.log.Warn("download: tracks without a license; licensing them again", "ref", r.String(), "track", t)
			c := *it
			c.Resolved = false
			m.items[r] = &c
			m.gen[r]++
			select {
			case <-m.idle:
				m.idle = make(chan struct{})
			default:
			}
			break
		}
	}
}

// resolve expands a request to tracks, licenses the tracks not yet
// licensed, leaves out those the relay reports unavailable, and records
// the request's tracks and job references in one transaction (new
// entries referenced, dropped entries released).
func (m *Manager) resolve(ctx context.Context, it *itemRec) error {
	r := it.ref()
	m.mu.Lock()
	gen, resolvePlaylist := m.gen[r], m.playlists
	m.mu.Unlock()
	var (
		tracks []model.TrackID
		album  []byte                       // an album's metadata (JSON)
		metas  = map[model.TrackID][]byte{} // tracks' metadata (JSON)
	)
	switch r.Kind {
	case KindTrack:
		tracks = []model.TrackID{model.TrackID(r.ID)}
	case KindAlbum:
		a, err := m.rc.album(ctx, model.AlbumID(r.ID))
		if err != nil {
			return fmt.Errorf("resolve album: %w", err)
		}
		tracks = a.Album.TrackIDs
		if album, err = json.Marshal(a.Album); err != nil {
			return fmt.Errorf("resolve album: %w", err)
		}
		for _, t := range a.Tracks {
			if metas[t.ID], err = json.Marshal(t); err != nil {
				return fmt.Errorf("resolve album: %w", err)
			}
		}
	case KindPlaylist:
		if resolvePlaylist == nil {
			return ErrNoPlaylists
		}
		var err error
		if tracks, err = resolvePlaylist(ctx, r.ID); err != nil {
			return fmt.Errorf("resolve playlist: %w", err)
		}
	}
	ids := make([]string, 0, len(tracks))
	seen := map[model.TrackID]bool{}
	var need []model.TrackID
	for _, t := range tracks {
		if seen[t] || !model.ValidID(string(t)) {
			continue
		}
		seen[t] = true
		ids = append(ids, string(t))
		if !m.licensed(ctx, trackTier{t, r.Tier}) {
			need = append(need, t)
		}
	}
	var unavailable []Unavailable
	if len(need) > 0 {
		var err error
		if unavailable, err = m.license(ctx, need, r.Tier); err != nil {
			return err
		}
	}
	if len(unavailable) > 0 {
		left := make(map[model.TrackID]bool, len(unavailable))
		for _, u := range unavailable {
			left[u.Track] = true
			delete(seen, u.Track) // a recorded track no longer licensable is dropped
		}
		ids = slices.DeleteFunc(ids, func(t string) bool { return left[model.TrackID(t)] })
	}
	if err := m.fetchMeta(ctx, r.Tier, ids, metas); err != nil {
		return fmt.Errorf("resolve %s: %w", r.Kind, err)
	}
	m.itemMu.Lock()
	hook := m.resolved
	m.itemMu.Unlock()
	if hook != nil {
		hook(r)
	}
	// Record against the request as it is now, not as it was when the
	// pass began: a Remove may have released it meanwhile (then nothing
	// is recorded), and its recorded tracks are what the references
	// count.
	m.itemMu.Lock()
	defer m.itemMu.Unlock()
	m.mu.Lock()
	cur, live := m.items[r]
	m.mu.Unlock()
	if !live {
		return nil
	}
	old := map[string]bool{}
	for _, t := range cur.Tracks {
		old[t] = true
	}
	rec := *cur
	rec.Tracks, rec.Resolved, rec.Err, rec.Album, rec.Unavailable = ids, true, "", album, unavailable
	val, err := detEnc.Marshal(&rec)
	if err != nil {
		return err
	}
	var dropped []string
	var freed [][32]byte
	err = m.d.Store.Update(ctx, func(tx store.Txn) error {
		dropped, freed = dropped[:0], freed[:0]
		if _, err := tx.Get(itemKey(r)); err != nil {
			return err // store.ErrNotFound: removed (no other writer while itemMu is held)
		}
		for _, t := range ids {
			if old[t] {
				continue
			}
			if err := refTx(tx, trackTier{model.TrackID(t), r.Tier}); err != nil {
				return err
			}
		}
		for _, t := range cur.Tracks {
			if !seen[model.TrackID(t)] {
				dropped = append(dropped, t)
				if err := m.unrefTx(tx, trackTier{model.TrackID(t), r.Tier}, &freed); err != nil {
					return err
				}
			}
		}
		return tx.Set(itemKey(r), val)
	})
	if err != nil {
		return fmt.Errorf("record %s: %w", r, err)
	}
	if err := m.recordMeta(ctx, r.Tier, ids, metas); err != nil {
		m.log.Warn("download: record catalog metadata", "ref", r.String(), "err", err)
	}
	m.unlinkFreed(ctx, freed)
	m.refreshJobs(ctx, r.Tier, ids)
	m.refreshJobs(ctx, r.Tier, dropped)
	m.mu.Lock()
	if m.gen[r] != gen {
		rec.Resolved = false // refreshed while resolving: again
	}
	m.items[r] = &rec
	m.mu.Unlock()
	for _, u := range unavailable {
		m.log.Info("download: track unavailable; left out", "ref", r.String(), "track", u.Track, "reason", u.Reason)
		m.emit(Event{Kind: EventUnavailable, Ref: r, Track: u.Track, Tier: r.Tier, Reason: u.Reason})
	}
	m.emit(Event{Kind: EventResolved, Ref: r})
	return nil
}

// recordErr persists why request r failed to resolve (its item's Err),
// so Status reports the cause in later runs too, until a resolve
// succeeds. The rest of the stored item is kept as it is.
func (m *Manager) recordErr(ctx context.Context, r Ref, cause error) {
	m.itemMu.Lock()
	defer m.itemMu.Unlock()
	msg := cause.Error()
	err := m.d.Store.Update(ctx, func(tx store.Txn) error {
		b, err := tx.Get(itemKey(r))
		if errors.Is(err, store.ErrNotFound) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		var rec itemRec
		if err := strictDec.Unmarshal(b, &rec); err != nil {
			return err
		}
		rec.Err = msg
		v, err := detEnc.Marshal(&rec)
		if err != nil {
			return err
		}
		return tx.Set(itemKey(r), v)
	})
	if err != nil {
		m.log.Warn("download: record request failure", "ref", r.String(), "err", err)
		return
	}
	m.mu.Lock()
	if cur, ok := m.items[r]; ok {
		c := *cur
		c.Err = msg
		m.items[r] = &c
	}
	m.mu.Unlock()
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

// downloadAll downloads every incomplete job. Transfers run on
// opts.workers × blobsPerWorker long-lived workers fed from one queue:
// up to opts.workers tracks at a time read their manifests and queue
// their missing blobs in track order, and a worker that finishes a blob
// takes the next one itself, so no slot waits for a goroutine to be
// scheduled or a track to start. A track frees its place as soon as its
// blobs are queued. The first fetch.ErrOffline or api.ErrRetryLater
// cancels the others and is returned.
func (m *Manager) downloadAll(ctx context.Context) error {
	m.mu.Lock()
	var todo []trackTier
	for tt, j := range m.jobs {
		if !j.complete() && !m.active[tt] && m.failed[tt] == nil {
			todo = append(todo, tt)
		}
	}
	m.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	slices.SortFunc(todo, func(a, b trackTier) int { return strings.Compare(string(a.track), string(b.track)) })
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		tracks  sync.WaitGroup // tracks queuing their blobs
		workers sync.WaitGroup
		commits sync.WaitGroup // tracks whose blobs are in flight or being committed
		sem     = make(chan struct{}, m.opts.workers)
		queue   = make(chan blobTask, m.opts.workers*blobsPerWorker)
		mu      sync.Mutex
		offline error
	)
	for range m.opts.workers * blobsPerWorker {
		workers.Go(func() {
			for t := range queue {
				t.run()
			}
		})
	}
	settle := func(tt trackTier, err error) {
		switch {
		case err == nil:
			m.forgetFailure(ctx, tt)
		case errors.Is(err, errJobGone), errors.Is(err, errPaused):
		case errors.Is(err, fetch.ErrOffline), errors.Is(err, api.ErrRetryLater):
			mu.Lock()
			offline = err
			mu.Unlock()
			cancel()
		case ctx.Err() != nil:
		default:
			m.mu.Lock()
			m.failed[tt] = err
			m.mu.Unlock()
			m.recordFailure(ctx, tt, err)
			m.log.Warn("download: track failed", "track", tt.track, "tier", tt.tier, "err", err)
			m.emit(Event{Kind: EventFailed, Track: tt.track, Tier: tt.tier, Err: err})
		}
	}
	for _, tt := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		tracks.Go(func() {
			defer func() { <-sem }()
			m.downloadTrack(ctx, tt, queue, &commits, settle)
		})
	}
	tracks.Wait()
	close(queue)
	workers.Wait()
	commits.Wait()
	return offline
}

// blobTask is one blob transfer queued for the workers.
type blobTask struct{ run func() }

// downloadTrack queues every blob of one job that is not done yet and
// returns once they are queued (freeing its caller's track place for the
// next track). Each blob is fetched by a worker into a verified, fsynced
// temp file, then committed in the background (the worker moves on);
// settle receives the track's outcome after the last commit, counted in
// commits until then.
func (m *Manager) downloadTrack(ctx context.Context, tt trackTier, queue chan<- blobTask, commits *sync.WaitGroup, settle func(trackTier, error)) {
	m.mu.Lock()
	if m.active[tt] {
		m.mu.Unlock()
		return
	}
	m.active[tt] = true
	m.mu.Unlock()
	var (
		all      sync.WaitGroup // every queued blob, until committed or failed
		errMu    sync.Mutex
		firstErr error
		nBlobs   int
		before   int // blobs done before this pass
	)
	ctx, cancel := context.WithCancel(ctx)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	commits.Add(1)
	defer func() {
		go func() {
			defer commits.Done()
			all.Wait()
			errMu.Lock()
			err := firstErr
			errMu.Unlock()
			if err == nil {
				err = ctx.Err()
			}
			if err == nil {
				err = m.completeIfDone(ctx, tt, before, nBlobs)
			}
			cancel()
			m.mu.Lock()
			delete(m.active, tt)
			m.mu.Unlock()
			settle(tt, err)
		}()
	}()
	man, err := m.d.Fetcher.Manifest(ctx, tt.track, tt.tier)
	if err != nil {
		fail(fmt.Errorf("manifest: %w", err))
		return
	}
	refs := make([]model.BlobRef, 0, len(man.Chunks)+1)
	refs = append(refs, man.Header)
	var total int64 = man.Header.Size
	for _, c := range man.Chunks {
		refs = append(refs, c.Blob)
		total += c.Blob.Size
	}
	nBlobs = len(refs)
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
		fail(fmt.Errorf("read progress: %w", err))
		return
	}
	before = len(done)
	for idx, ref := range refs {
		if done[idx] {
			continue
		}
		if reason := m.pausedNow(); reason != "" {
			if reason == "offline" {
				fail(fetch.ErrOffline)
			} else {
				fail(fmt.Errorf("%w: %s", errPaused, reason))
			}
			break
		}
		all.Add(1)
		task := blobTask{run: func() {
			if ctx.Err() != nil { // the track failed or the pass stopped
				all.Done()
				return
			}
			m.coming.Add(1)
			tmp, err := m.fetchBlob(ctx, man, idx, ref)
			if err != nil {
				m.coming.Add(-1)
				fail(fmt.Errorf("blob %d: %w", idx, err))
				all.Done()
				return
			}
			// The commit (fsync included) waits for the group
			// committer; the worker moves on to the next transfer
			// meanwhile, unless maxPendingCommits blobs already wait.
			select {
			case m.pending <- struct{}{}:
			case <-ctx.Done():
				m.coming.Add(-1)
				tmp.discard()
				all.Done()
				return
			}
			go func() {
				defer all.Done()
				defer func() { <-m.pending }()
				if err := m.storeBlob(ctx, tt, idx, ref, tmp, len(refs), total); err != nil {
					fail(err)
				}
			}()
		}}
		select {
		case queue <- task:
		case <-ctx.Done():
			all.Done()
		}
		if ctx.Err() != nil {
			break
		}
	}
}

// completeIfDone records completion of a job whose blobs were all done
// before this pass (a crash between the last blob and its completion
// record).
func (m *Manager) completeIfDone(ctx context.Context, tt trackTier, before, blobs int) error {
	m.mu.Lock()
	j, ok := m.jobs[tt]
	var c jobRec
	if ok {
		c = *j
	}
	m.mu.Unlock()
	if ok && c.complete() && before == blobs {
		return m.persistComplete(ctx, tt, c)
	}
	return nil
}

// fetchBlob writes blob idx (0 = header) to a temp file, verified against
// ref (after checking it leaves the free space the options keep), and
// returns it still open and not yet fsynced (the group committer
// fsyncs it, so a transfer slot never waits for the disk): from the
// streaming cache when it holds the blob, else streamed from the origins
// in order while it is hashed (never buffered whole).
func (m *Manager) fetchBlob(ctx context.Context, man *model.Manifest, idx int, ref model.BlobRef) (*tempBlob, error) {
	if err := m.files.checkRoom(ref.Size, m.opts.minFree); err != nil {
		return nil, err
	}
	tmp, err := m.files.create()
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.discard()
		}
	}()
	check := func() error {
		switch {
		case tmp.n != ref.Size:
			return fmt.Errorf("%w: %d bytes, manifest says %d", fetch.ErrIntegrity, tmp.n, ref.Size)
		case tmp.sum() != ref.SHA256:
			return fmt.Errorf("%w: sha-256 mismatch", fetch.ErrIntegrity)
		}
		return nil
	}
	if m.d.Fetcher.Cached(ref) {
		var b []byte
		if idx == 0 {
			b, err = m.d.Fetcher.Header(ctx, man)
		} else {
			b, err = m.d.Fetcher.Chunk(ctx, man, idx-1)
		}
		if err == nil {
			if _, err := tmp.Write(b); err != nil {
				return nil, err
			}
			if err := check(); err == nil {
				ok = true
				return tmp, nil
			}
		}
		if err := tmp.reset(); err != nil {
			return nil, err
		}
	}
	req := fetch.Request{Kind: fetch.KindHeader, Track: man.TrackID, Tier: man.Tier, MaxSize: ref.Size, Hash: ref.SHA256}
	if idx > 0 {
		req.Kind, req.Index = fetch.KindChunk, idx-1
	}
	var errs []error
	answered := false
	for _, o := range m.d.Origins {
		if err := tmp.reset(); err != nil {
			return nil, err
		}
		if so, isStream := o.(fetch.StreamOrigin); isStream {
			_, err = so.FetchTo(ctx, req, tmp)
		} else {
			var b []byte
			if b, err = o.Fetch(ctx, req); err == nil {
				_, err = tmp.Write(b)
			}
		}
		if err == nil {
			if err = check(); err == nil {
				ok = true
				return tmp, nil
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrWriteBlob) {
			return nil, err // the disk, not the origin: another origin would fail the same
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

// storeBlob hands a verified blob file to the committer (which fsyncs
// it, renames it into place, fsyncs its directory, then commits its
// reference and done bit, grouped with other blobs, and the job's
// completion when this blob completes it, and reports the progress) and
// returns once it is committed. The committer owns tmp from then on.
func (m *Manager) storeBlob(ctx context.Context, tt trackTier, idx int, ref model.BlobRef, tmp *tempBlob, blobs int, total int64) error {
	req := commitReq{tt: tt, idx: idx, ref: ref, tmp: tmp, blobs: blobs, bytes: total, reply: make(chan commitRes, 1)}
	m.coming.Add(-1) // before the hand-over: a committer seeing 0 must not wait for this blob
	select {
	case m.commits <- req:
	case <-ctx.Done():
		tmp.discard()
		return ctx.Err()
	}
	res := <-req.reply
	if errors.Is(res.err, errJobGone) {
		return res.err
	}
	if res.err != nil {
		return fmt.Errorf("store blob %d of %s/%s: %w", idx, tt.track, tt.tier, res.err)
	}
	m.mu.Lock()
	_, live := m.jobs[tt]
	m.mu.Unlock()
	if !live {
		return errJobGone
	}
	return nil
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
