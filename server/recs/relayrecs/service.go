package relayrecs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // time zones by IANA name on hosts without zoneinfo

	"github.com/automerge/automerge-go"
	"gonum.org/v1/gonum/mat"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/internal/userlimit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/server/recs"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
)

// Errors of the recommendation service.
var (
	// ErrBadTimeZone: not an IANA time zone name this relay knows.
	ErrBadTimeZone = errors.New("relayrecs: unknown time zone")
	// ErrNoLibrary: the listener has no library bound on the relay.
	ErrNoLibrary = errors.New("relayrecs: listener has no library")
	// ErrFutureWeek: a run was asked for a week that has not started.
	ErrFutureWeek = errors.New("relayrecs: week has not started")
	// ErrNoModel: no trained model with factors yet.
	ErrNoModel = errors.New("relayrecs: no trained model")
)

// PlaySource returns every listener's play counts per track over the
// months holding from..to. CountedPlays reads the counting service's
// counts; tests and the demo pass simulated listening.
type PlaySource func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error)

// CountedPlays reads the counted streams of server/counting from st,
// leaving out each month's streams of the accounts the fraud scan flagged
// in it (fraud.Flags), as the royalty statement holds them out of the
// pool: a flagged farm's streams would otherwise still train the model
// and count towards popularity.
func CountedPlays(st store.Store) PlaySource {
	return func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		out, err := counting.UserTrackStreams(ctx, st, from.UTC().Format("2006-01"), to.UTC().Format("2006-01"))
		if err != nil {
			return nil, err
		}
		last := to.UTC().Format("2006-01")
		for m := time.Date(from.UTC().Year(), from.UTC().Month(), 1, 0, 0, 0, 0, time.UTC); m.Format("2006-01") <= last; m = m.AddDate(0, 1, 0) {
			month := m.Format("2006-01")
			flags, err := fraud.Flags(ctx, st, month)
			if err != nil {
				return nil, err
			}
			for _, f := range flags {
				held, err := counting.UserMonthStreams(ctx, st, f.User, month)
				if err != nil {
					return nil, err
				}
				plays := out[f.User]
				for track, n := range held {
					if plays[track] <= n {
						delete(plays, track)
					} else {
						plays[track] -= n
					}
				}
				if len(plays) == 0 {
					delete(out, f.User)
				}
			}
		}
		return out, nil
	}
}

// Store keys (docs/ARCHITECTURE.md §5).
func docKey(user model.UserID, kind string) []byte {
	return store.Key("recs", "doc", string(user), kind)
}
func doneKey(user model.UserID, family string) []byte {
	return store.Key("recs", "done", string(user), family)
}
func tzKey(user model.UserID) []byte { return store.Key("recs", "tz", string(user)) }

// followKey records that the relay made user's library follow playlist
// kind once; from then on following is the listener's choice.
func followKey(user model.UserID, kind string) []byte {
	return store.Key("recs", "followed", string(user), kind)
}

// Families of service playlists: each is delivered once per period.
const (
	familyDiscover = KindDiscoverWeekly
	familyMixes    = "daily_mix"
	familyRadar    = KindReleaseRadar
)

// Service computes recommendations on the relay and delivers them as
// service-owned playlist documents (docs.CreateServicePlaylist) in the
// relay's document repository: one document per listener and kind,
// recorded as owned by docs.ServiceUser (so peer.DocumentAccess lets only
// the listener read it and no one write it) and followed from the
// listener's library document, so every device syncs it and can download
// it like any playlist. A new period replaces the content in one commit
// under the same document id. Safe for concurrent use; runs are
// serialised.
type Service struct {
	st    store.Store
	cat   Catalog
	docs  *repo.Repo
	plays PlaySource
	opts  Options

	runMu sync.Mutex // one run (RunDue, RunWeek) at a time; a paced run lets go of it while it waits

	similarLim *userlimit.Limiter // GET /v1/tracks/{id}/similar per user

	mu          sync.Mutex
	snap        *snapshot   // latest trained model; nil before the first run
	trainFailed time.Time   // when trainOnce last failed (zero: it has not)
	factorStats FactorStats // of the latest loaded Spark run
}

// Catalog is what the service reads of the catalog; *catalog.Catalog
// implements it. Album and Artist return catalog.ErrNotFound for an
// unknown id.
type Catalog interface {
	EachTrack(ctx context.Context, fn func(model.Track) error) error
	Album(ctx context.Context, id model.AlbumID) (model.Album, error)
	Artist(ctx context.Context, id model.ArtistID) (model.Artist, error)
}

// New returns the service over the relay's store, catalog and document
// repository (relay.Server.Docs), reading plays from plays.
func New(st store.Store, cat Catalog, docRepo *repo.Repo, plays PlaySource, opts Options) *Service {
	return &Service{st: st, cat: cat, docs: docRepo, plays: plays, opts: opts,
		similarLim: userlimit.New(SimilarRateEvery, SimilarRateBurst, similarRateUsers)}
}

// snapshot is one trained model and the listening it was trained on.
type snapshot struct {
	at    time.Time
	u     *recs.Universe
	index map[model.TrackID]int
	// albums are the items of each album.
	albums map[model.AlbumID][]int
	// factors are the listeners' user factors (the embedded ALS's or
	// the loaded Spark run's); a listener without a row has none.
	factors map[model.UserID][]float64
	plays   map[model.UserID]map[int]float64
}

// releaseDay parses a YYYY-MM-DD release date; anything else (a year
// alone, empty) is unknown.
func releaseDay(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// train reads the catalog and the plays of the history window ending at
// now and fits ALS. Tracks whose album is embargoed at now
// (model.Album.Embargoed) are left out of the model, so no playlist,
// similar-tracks answer or Smart Shuffle candidate names a track no
// device can play yet; they join the first run after their release.
func (s *Service) train(ctx context.Context, now time.Time) (*snapshot, error) {
	albums := map[model.AlbumID]model.Album{}
	var items []recs.Item
	var itemAlbums []model.AlbumID // items[i]'s album
	err := s.cat.EachTrack(ctx, func(t model.Track) error {
		var a model.Album
		if t.AlbumID != "" {
			var ok bool
			if a, ok = albums[t.AlbumID]; !ok {
				var err error
				if a, err = s.cat.Album(ctx, t.AlbumID); err != nil && !errors.Is(err, catalog.ErrNotFound) {
					return err
				}
				albums[t.AlbumID] = a
			}
		}
		if a.Embargoed(now) {
			return nil
		}
		it := recs.Item{Track: t.ID, Features: t.Features, Released: releaseDay(t.ReleaseDate)}
		if len(t.ArtistIDs) > 0 {
			it.Artist = t.ArtistIDs[0]
		}
		if it.Released.IsZero() {
			it.Released = releaseDay(a.ReleaseDate)
		}
		if it.Released.IsZero() && a.ReleaseAt > 0 {
			it.Released = time.Unix(a.ReleaseAt, 0).UTC() // released by its embargo's end alone
		}
		items = append(items, it)
		itemAlbums = append(itemAlbums, t.AlbumID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relayrecs: read catalog: %w", err)
	}
	index := make(map[model.TrackID]int, len(items))
	byAlbum := map[model.AlbumID][]int{}
	for i, it := range items {
		index[it.Track] = i
		byAlbum[itemAlbums[i]] = append(byAlbum[itemAlbums[i]], i)
	}
	from := time.Date(now.UTC().Year(), now.UTC().Month()-time.Month(max(s.opts.history, 1)-1), 1, 0, 0, 0, 0, time.UTC)
	raw, err := s.plays(ctx, from, now)
	if err != nil {
		return nil, fmt.Errorf("relayrecs: read plays: %w", err)
	}
	users := slices.Sorted(maps.Keys(raw))
	snap := &snapshot{at: now, index: index, albums: byAlbum, factors: map[model.UserID][]float64{}, plays: map[model.UserID]map[int]float64{}}
	totals := make([]float64, len(items))
	listeners := make([]int, len(items))
	var triples []recs.Play
	for u, user := range users {
		m := map[int]float64{}
		for track, n := range raw[user] {
			i, ok := index[track]
			if !ok || n == 0 {
				continue // a track since removed from the catalog, or not released yet
			}
			m[i] = float64(n)
			totals[i] += float64(n)
			listeners[i]++
			triples = append(triples, recs.Play{User: u, Item: i, Count: float64(n)})
		}
		snap.plays[user] = m
	}
	var itemFactors *mat.Dense
	if s.opts.factorsDir != "" {
		if itemFactors, err = s.loadFactors(ctx, snap, index); err != nil {
			return nil, err
		}
	} else if len(triples) > 0 {
		pm, err := recs.NewMatrix(len(users), len(items), triples)
		if err != nil {
			return nil, fmt.Errorf("relayrecs: play matrix: %w", err)
		}
		fit, err := recs.TrainALS(pm, s.opts.als)
		if err != nil {
			return nil, fmt.Errorf("relayrecs: train: %w", err)
		}
		itemFactors = fit.ItemFactors
		for u, user := range users {
			snap.factors[user] = fit.UserFactors.RawRowView(u)
		}
	}
	if snap.u, err = recs.NewUniverse(items, totals, listeners, itemFactors); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.snap = snap
	s.mu.Unlock()
	return snap, nil
}

// listener builds user's builder input from snap and the library: its
// followed artists, and its saved tracks and albums as known items.
func (s *Service) listener(ctx context.Context, snap *snapshot, user model.UserID) (recs.Listener, error) {
	l := recs.Listener{Plays: snap.plays[user]}
	l.Factors = snap.factors[user]
	libID, ok, err := relaysync.LibraryOf(ctx, s.st, user)
	if err != nil {
		return l, err
	}
	if !ok {
		return l, fmt.Errorf("%w: %s", ErrNoLibrary, user)
	}
	h, err := s.docs.Get(ctx, libID)
	if errors.Is(err, repo.ErrNotFound) || err == nil && h.Empty() {
		return l, nil // the library has not been synced yet: no follows
	}
	if err != nil {
		return l, err
	}
	var albums []model.AlbumID
	err = h.ReadLibrary(func(lib *docs.Library) error {
		artists, err := lib.Artists()
		if err != nil {
			return err
		}
		for _, a := range artists {
			l.Followed = append(l.Followed, model.ArtistID(a.ID))
		}
		tracks, err := lib.Tracks()
		if err != nil {
			return err
		}
		for _, t := range tracks {
			if i, ok := snap.index[model.TrackID(t.ID)]; ok {
				l.Known = append(l.Known, i)
			}
		}
		saved, err := lib.Albums()
		for _, a := range saved {
			albums = append(albums, model.AlbumID(a.ID))
		}
		return err
	})
	if err != nil {
		return l, err
	}
	for _, id := range albums {
		l.Known = append(l.Known, snap.albums[id]...)
	}
	return l, nil
}

// TimeZone returns user's schedule time zone (UTC when none is set).
func (s *Service) TimeZone(ctx context.Context, user model.UserID) (*time.Location, error) {
	v, err := s.st.Get(ctx, tzKey(user))
	if errors.Is(err, store.ErrNotFound) {
		return time.UTC, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relayrecs: read time zone of %s: %w", user, err)
	}
	loc, err := time.LoadLocation(string(v))
	if err != nil {
		return nil, fmt.Errorf("%w: stored %q: %v", ErrBadTimeZone, v, err)
	}
	return loc, nil
}

// maxTimeZone bounds a time zone name (the longest IANA name is 32 bytes).
const maxTimeZone = 64

// SetTimeZone stores user's time zone, an IANA name such as
// "Europe/Berlin" (ErrBadTimeZone for an unknown name, or "Local" and
// "localtime", the relay host's own zone). The next period boundaries
// follow it.
func (s *Service) SetTimeZone(ctx context.Context, user model.UserID, name string) error {
	if name == "" || name == "Local" || name == "localtime" || len(name) > maxTimeZone {
		return fmt.Errorf("%w: %s", ErrBadTimeZone, safetext.Quote(name))
	}
	if _, err := time.LoadLocation(name); err != nil {
		return fmt.Errorf("%w: %s", ErrBadTimeZone, safetext.Quote(name))
	}
	return s.st.Update(ctx, func(tx store.Txn) error { return tx.Set(tzKey(user), []byte(name)) })
}

// Result counts the listeners and playlists of one run.
type Result struct {
	// Delivered is how many playlist families (Discover Weekly, the
	// Daily Mixes, Release Radar) received new content.
	Delivered int
	// Skipped is how many were already delivered for their period (or
	// a later one).
	Skipped int
	// Failed is how many failed; their previous content stays and the
	// next run retries.
	Failed int
	// Paced is how long a scheduled run (Run) waited between listeners
	// to keep its share of the time (WithPacing); 0 for RunDue.
	Paced time.Duration
}

// RunDue delivers every playlist family whose period has started for its
// listener (Period in the listener's time zone) and was not delivered
// for that period yet (nor a later one that has begun somewhere: a period
// recorded under a clock that ran ahead and was set back is delivered
// again). The model is trained once per run, only when
// something is due. A failure for one listener is logged and counted;
// that listener's previous content stays and the next run retries.
//
// RunDue is not paced: an operator's run delivers as fast as it can.
func (s *Service) RunDue(ctx context.Context) (Result, error) {
	return s.runDue(ctx, nil)
}

// pacer spreads a scheduled run out in time so that it takes at most a
// share of it, leaving the rest to the relay's interactive work (sync,
// HTTP) on the same cores: after work that took busy, the run owes a
// wait of busy × (1 − share) / share. Owed waits are taken once they add
// up to minPaceWait, so a listener with nothing due costs no timer; one
// wait is at most maxPaceWait (a clock that jumps ahead does not stall
// the scheduler).
type pacer struct {
	share float64
	owed  time.Duration
}

const (
	minPaceWait = 10 * time.Millisecond
	maxPaceWait = time.Minute
)

// spent records busy time and returns the wait due now (0: none yet).
func (p *pacer) spent(busy time.Duration) time.Duration {
	if p.share >= 1 || busy <= 0 {
		return 0
	}
	p.owed += time.Duration(float64(busy) * (1 - p.share) / p.share)
	if p.owed < minPaceWait {
		return 0
	}
	w := min(p.owed, maxPaceWait)
	p.owed = 0
	return w
}

// pace takes the wait p owes after a listener's work that began at
// start (none without p), without the run lock, which the caller holds:
// an operator's run goes ahead meanwhile, and this one then finds what
// it delivered done (each listener's families are read afresh).
func (s *Service) pace(ctx context.Context, p *pacer, start time.Time, res *Result) error {
	if p == nil {
		return nil
	}
	w := p.spent(s.opts.now().Sub(start))
	if w == 0 {
		return nil
	}
	s.runMu.Unlock()
	err := s.opts.sleep(ctx, w)
	s.runMu.Lock()
	if err == nil {
		res.Paced += w
	}
	return err
}

// runDue is RunDue, paced by p when it is not nil.
func (s *Service) runDue(ctx context.Context, p *pacer) (Result, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	now := s.opts.now()
	users, err := relaysync.Listeners(ctx, s.st)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var snap *snapshot
	for _, user := range users {
		start := s.opts.now()
		loc, err := s.TimeZone(ctx, user)
		if err != nil {
			s.opts.log.Warn("relayrecs: time zone; using UTC", "user", user, "err", err)
			loc = time.UTC
		}
		for _, fam := range []string{familyDiscover, familyMixes, familyRadar} {
			period, start := Period(fam, now, loc)
			done, err := s.done(ctx, user, fam)
			if err != nil {
				return res, err
			}
			if done >= period && !s.aheadOfClock(user, fam, done, now) {
				res.Skipped++
				continue
			}
			if snap == nil {
				if snap, err = s.train(ctx, now); err != nil {
					return res, err
				}
			}
			if err := s.deliver(ctx, snap, user, fam, period, start); err != nil {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				s.opts.log.Error("relayrecs: delivery failed; the previous content stays", "user", user, "playlist", fam, "period", period, "err", err)
				res.Failed++
				continue
			}
			res.Delivered++
		}
		if err := s.pace(ctx, p, start, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// RunWeek delivers Discover Weekly for ISO week (an admin run, `segue
// recs run --week`) to every listener not yet served for that week or a
// later one that has begun somewhere (a week recorded under a clock that
// ran ahead does not count). ErrBadWeek for a malformed week, ErrFutureWeek for a week
// that has not started in UTC.
func (s *Service) RunWeek(ctx context.Context, week string) (Result, error) {
	start, err := ParseWeek(week, time.UTC)
	if err != nil {
		return Result{}, err
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	now := s.opts.now()
	if start.After(now) {
		return Result{}, fmt.Errorf("%w: %s starts %s", ErrFutureWeek, week, start.Format(time.DateOnly))
	}
	users, err := relaysync.Listeners(ctx, s.st)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var snap *snapshot
	for _, user := range users {
		done, err := s.done(ctx, user, familyDiscover)
		if err != nil {
			return res, err
		}
		if done >= week && !s.aheadOfClock(user, familyDiscover, done, now) {
			res.Skipped++
			continue
		}
		if snap == nil {
			if snap, err = s.train(ctx, now); err != nil {
				return res, err
			}
		}
		if err := s.deliver(ctx, snap, user, familyDiscover, week, start); err != nil {
			s.opts.log.Error("relayrecs: delivery failed", "user", user, "week", week, "err", err)
			res.Failed++
			continue
		}
		res.Delivered++
	}
	return res, nil
}

// Run checks what is due every tick until ctx is done (the relay's
// scheduler), paced (WithPacing) so that a burst of deliveries does not
// take the relay's cores for seconds. Decisions read the injected
// clock; only the wait between ticks is real time.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.tick)
	defer t.Stop()
	for {
		if res, err := s.runDue(ctx, &pacer{share: s.opts.pace}); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.opts.log.Error("relayrecs: scheduled run failed", "err", err)
		} else if res.Delivered+res.Failed > 0 {
			s.opts.log.Info("relayrecs: scheduled run", "delivered", res.Delivered, "failed", res.Failed, "paced", res.Paced)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// earliestZone is the time zone where a day begins first (UTC+14,
// Pacific/Kiritimati): no listener's period starts before it does there.
var earliestZone = time.FixedZone("UTC+14", 14*60*60)

// aheadOfClock reports whether period done, recorded as delivered for
// user's family fam, has not begun in any time zone at now. Only a clock
// that ran ahead and was set back records such a period; taking it as
// delivered would hold the family back (and every listener's with it)
// until the clock caught up, so it is delivered again instead.
func (s *Service) aheadOfClock(user model.UserID, fam, done string, now time.Time) bool {
	latest, _ := Period(fam, now, earliestZone)
	if done <= latest {
		return false
	}
	s.opts.log.Warn("relayrecs: delivered period has not begun anywhere yet (the clock was set back); delivering again", "user", user, "playlist", fam, "period", done, "latest", latest)
	return true
}

func (s *Service) done(ctx context.Context, user model.UserID, fam string) (string, error) {
	v, err := s.st.Get(ctx, doneKey(user, fam))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("relayrecs: read delivery of %s: %w", user, err)
	}
	return string(v), nil
}

// content is one playlist's new content.
type content struct {
	kind, name, desc string
	items            []int
}

// deliver computes family fam for user and writes it, then records the
// period as delivered. Nothing is written before every playlist of the
// family is computed; each playlist's replacement is one commit.
func (s *Service) deliver(ctx context.Context, snap *snapshot, user model.UserID, fam, period string, start time.Time) error {
	l, err := s.listener(ctx, snap, user)
	if err != nil {
		return err
	}
	var out []content
	switch fam {
	case familyDiscover:
		items, err := snap.u.DiscoverWeekly(l, s.opts.discover)
		if err != nil {
			return err
		}
		out = append(out, content{KindDiscoverWeekly, "Discover Weekly",
			fmt.Sprintf("%d tracks you have not played yet, for week %s.", len(items), period), items})
	case familyMixes:
		mixes, err := snap.u.DailyMixes(l, s.opts.mixes)
		if err != nil {
			return err
		}
		for n := 1; n <= s.opts.mixes.Max; n++ {
			c := content{kind: DailyMixKind(n), name: fmt.Sprintf("Daily Mix %d", n)}
			if n <= len(mixes) {
				c.items = mixes[n-1]
				c.desc = s.mixDescription(ctx, snap.u, c.items, period)
			} else if _, ok, err := s.docID(ctx, user, c.kind); err != nil || !ok {
				if err != nil {
					return err
				}
				continue // no such mix before and none today
			} else {
				c.desc = "No mix today (" + period + ")."
			}
			out = append(out, c)
		}
	case familyRadar:
		items, err := snap.u.ReleaseRadar(l, start, s.opts.radar)
		if err != nil {
			return err
		}
		out = append(out, content{KindReleaseRadar, "Release Radar",
			fmt.Sprintf("New releases of the last %d days from artists you follow or play, for Friday %s.", int(s.opts.radar.Window.Hours()/24), period), items})
	}
	for _, c := range out {
		tracks := make([]model.TrackID, len(c.items))
		for i, it := range c.items {
			tracks[i] = snap.u.Items[it].Track
		}
		if err := s.write(ctx, user, c.kind, c.name, c.desc, period, tracks); err != nil {
			return err
		}
	}
	return s.st.Update(ctx, func(tx store.Txn) error { return tx.Set(doneKey(user, fam), []byte(period)) })
}

// mixDescription names up to three artists of a mix.
func (s *Service) mixDescription(ctx context.Context, u *recs.Universe, items []int, period string) string {
	var names []string
	seen := map[model.ArtistID]bool{}
	for _, i := range items {
		a := u.Items[i].Artist
		if seen[a] || a == "" {
			continue
		}
		seen[a] = true
		name := string(a)
		if ar, err := s.cat.Artist(ctx, a); err == nil && ar.Name != "" {
			name = ar.Name
		}
		if names = append(names, name); len(names) == 3 {
			break
		}
	}
	return fmt.Sprintf("%s and more (%s).", strings.Join(names, ", "), period)
}

// docID returns the document id of user's playlist kind, if created.
func (s *Service) docID(ctx context.Context, user model.UserID, kind string) (docs.DocumentID, bool, error) {
	v, err := s.st.Get(ctx, docKey(user, kind))
	if errors.Is(err, store.ErrNotFound) {
		return docs.DocumentID{}, false, nil
	}
	if err != nil {
		return docs.DocumentID{}, false, fmt.Errorf("relayrecs: read playlist id: %w", err)
	}
	id, err := docs.ParseDocumentID(string(v))
	if err != nil {
		return docs.DocumentID{}, false, fmt.Errorf("relayrecs: playlist id of %s/%s: %w", user, kind, err)
	}
	return id, true, nil
}

// write replaces the content of user's playlist kind, creating the
// document the first time: its id is chosen and recorded (owner
// docs.ServiceUser, recs/doc/<user>/<kind>) in one transaction before the
// document exists, so a crash leaves at most a recorded id that the next
// run fills. The listener's library follows the playlist.
func (s *Service) write(ctx context.Context, user model.UserID, kind, name, desc, period string, tracks []model.TrackID) error {
	libID, ok, err := relaysync.LibraryOf(ctx, s.st, user)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoLibrary, user)
	}
	id, ok, err := s.docID(ctx, user, kind)
	if err != nil {
		return err
	}
	if !ok {
		if id, err = docs.NewDocumentID(s.opts.rand); err != nil {
			return err
		}
		err = s.st.Update(ctx, func(tx store.Txn) error {
			if err := relaysync.RecordServiceDocument(tx, id); err != nil {
				return err
			}
			return tx.Set(docKey(user, kind), []byte(id.String()))
		})
		if err != nil {
			return fmt.Errorf("relayrecs: record playlist: %w", err)
		}
	}
	h, err := s.docs.Ensure(ctx, id)
	if err != nil {
		return err
	}
	if h.Empty() {
		err := h.Change(ctx, func(d *automerge.Doc) error {
			_, err := docs.CreateServicePlaylist(d, user, kind, name, docs.DefaultOptions().WithClock(s.opts.now))
			return err
		})
		if err != nil {
			return fmt.Errorf("relayrecs: create playlist: %w", err)
		}
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.Replace(name, desc, period, tracks) }); err != nil {
		return fmt.Errorf("relayrecs: replace playlist: %w", err)
	}
	// The library follows the playlist once, at its first delivery; a
	// listener who unfollows it keeps it unfollowed (its content is still
	// replaced, so following it again shows the current period).
	if _, err := s.st.Get(ctx, followKey(user, kind)); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("relayrecs: read follow record: %w", err)
	}
	lib, err := s.docs.OpenLibrary(ctx, libID, user)
	if err != nil {
		return fmt.Errorf("relayrecs: open library: %w", err)
	}
	if err := lib.Library(ctx, func(l *docs.Library) error { return l.FollowPlaylists(id) }); err != nil {
		return fmt.Errorf("relayrecs: follow playlist: %w", err)
	}
	return s.st.Update(ctx, func(tx store.Txn) error { return tx.Set(followKey(user, kind), []byte{1}) })
}

// Playlists returns user's service playlists in kind order (Discover
// Weekly, Daily Mixes, Release Radar) with the period of their content.
func (s *Service) Playlists(ctx context.Context, user model.UserID) ([]Playlist, error) {
	kinds := []string{KindDiscoverWeekly}
	for n := 1; n <= max(s.opts.mixes.Max, 6); n++ {
		kinds = append(kinds, DailyMixKind(n))
	}
	kinds = append(kinds, KindReleaseRadar)
	followed, err := s.followed(ctx, user)
	if err != nil {
		return nil, err
	}
	var out []Playlist
	for _, k := range kinds {
		id, ok, err := s.docID(ctx, user, k)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		p := Playlist{Kind: k, Doc: id, Followed: followed[id]}
		if h, err := s.docs.Get(ctx, id); err == nil && !h.Empty() {
			_ = h.Read(func(d *automerge.Doc) error {
				if si, ok := docs.ServiceOf(d); ok {
					p.Period = si.Period
				}
				return nil
			})
		}
		out = append(out, p)
	}
	return out, nil
}

// trainRetry is how long after a failed training trainOnce answers
// ErrNoModel instead of training again.
const trainRetry = time.Minute

// trainOnce trains a model unless another caller did while this one
// waited for the run lock, so concurrent first requests train once.
// After a failed training (a bad Spark directory, the play source down)
// it fails with ErrNoModel for trainRetry rather than letting every
// request walk the catalog and the plays again; a scheduled run that
// succeeds meanwhile provides the model.
func (s *Service) trainOnce(ctx context.Context) (*snapshot, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	now := s.opts.now()
	s.mu.Lock()
	snap, failed := s.snap, s.trainFailed
	s.mu.Unlock()
	if snap != nil {
		return snap, nil
	}
	if !failed.IsZero() && now.Sub(failed) >= 0 && now.Sub(failed) < trainRetry {
		return nil, fmt.Errorf("%w: the last training failed at %s; next try after %s", ErrNoModel, failed.UTC().Format(time.RFC3339), trainRetry)
	}
	snap, err := s.train(ctx, now)
	if err != nil && ctx.Err() == nil {
		s.mu.Lock()
		s.trainFailed = now
		s.mu.Unlock()
	}
	return snap, err
}

// Playlist is one of a listener's service playlists.
type Playlist struct {
	Kind   string
	Doc    docs.DocumentID
	Period string
	// Followed reports whether the listener's library (the relay's copy)
	// follows it: false after the listener unfollowed it, until they
	// follow it again.
	Followed bool
}

// followed returns the playlists user's library follows (the relay's
// copy); empty when the library is unbound or not synced yet.
func (s *Service) followed(ctx context.Context, user model.UserID) (map[docs.DocumentID]bool, error) {
	out := map[docs.DocumentID]bool{}
	libID, ok, err := relaysync.LibraryOf(ctx, s.st, user)
	if err != nil || !ok {
		return out, err
	}
	h, err := s.docs.Get(ctx, libID)
	if errors.Is(err, repo.ErrNotFound) || err == nil && h.Empty() {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	err = h.ReadLibrary(func(l *docs.Library) error {
		ids, err := l.Playlists()
		for _, id := range ids {
			out[id] = true
		}
		return err
	})
	return out, err
}

// Similar returns up to n tracks most similar to track (recs.Universe
// Similar) from the latest trained model, training one first when the
// service has none. catalog.ErrNotFound for a track not in that model;
// ErrNoModel within a minute of a failed training.
func (s *Service) Similar(ctx context.Context, track model.TrackID, n int) ([]model.TrackID, error) {
	s.mu.Lock()
	snap := s.snap
	s.mu.Unlock()
	if snap == nil {
		var err error
		if snap, err = s.trainOnce(ctx); err != nil {
			return nil, err
		}
	}
	i, ok := snap.index[track]
	if !ok {
		return nil, fmt.Errorf("%w: track %s", catalog.ErrNotFound, safetext.Quote(string(track)))
	}
	items, err := snap.u.Similar(i, n)
	if err != nil {
		return nil, err
	}
	out := make([]model.TrackID, len(items))
	for j, it := range items {
		out[j] = snap.u.Items[it].Track
	}
	return out, nil
}
