package docs

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
)

// LibraryNamespace is the namespace DeriveDocumentID uses for library ids.
const LibraryNamespace = "segue/library/v1"

// LibraryID returns the id of user's library document. Every device of
// the user derives the same id, so they find each other's library without
// a server.
func LibraryID(user model.UserID) DocumentID {
	return DeriveDocumentID(LibraryNamespace, string(user))
}

// Saved is one member of a library set (a saved track or album, a
// followed artist or playlist) and when it was added.
type Saved struct {
	ID string
	At time.Time
}

// Library is a typed view over a user's library document:
//
//	{type:"library", owner,
//	 tracks: {trackId: savedAt}, albums: {albumId: savedAt},
//	 artists: {artistId: followedAt}, playlists: {docId: followedAt},
//	 settings: {key: string}}
//
// Every mutating method makes exactly one commit (none when it changes
// nothing). Sets are maps whose keys are the members, so concurrent saves
// of different items merge and a save and an unsave of one item resolve
// by Automerge's map rules (the delete wins over a concurrent re-save of
// an item that was already present). A Library is not safe for concurrent
// use.
type Library struct {
	doc  *automerge.Doc
	opts Options
}

// Library map keys.
const (
	setTracks    = "tracks"
	setAlbums    = "albums"
	setArtists   = "artists"
	setPlaylists = "playlists"
	mapSettings  = "settings"
	// SettingTier is the settings key holding the preferred model.Tier.
	SettingTier = "tier"
)

// CreateLibrary writes owner's library skeleton into the empty doc as a
// deterministic genesis change: the actor is derived from owner and the
// timestamp is omitted, so every device that creates the library offline
// produces the byte-identical change and their copies merge instead of
// conflicting. doc's own actor id is restored afterwards. It returns
// ErrNotEmpty if doc already has changes.
func CreateLibrary(doc *automerge.Doc, owner model.UserID, opts Options) (*Library, error) {
	if len(doc.Heads()) != 0 {
		return nil, ErrNotEmpty
	}
	if owner == "" {
		return nil, fmt.Errorf("%w: empty owner", ErrInvalidArgument)
	}
	actor := doc.ActorID()
	sum := sha256.Sum256([]byte(LibraryNamespace + "\x00actor\x00" + string(owner)))
	if err := doc.SetActorID(hex.EncodeToString(sum[:16])); err != nil {
		return nil, fmt.Errorf("create library: set genesis actor: %w", err)
	}
	defer func() { _ = doc.SetActorID(actor) }()
	root := doc.RootMap()
	for _, kv := range []struct {
		k string
		v any
	}{
		{"type", string(KindLibrary)},
		{"owner", string(owner)},
		{setTracks, automerge.NewMap()},
		{setAlbums, automerge.NewMap()},
		{setArtists, automerge.NewMap()},
		{setPlaylists, automerge.NewMap()},
		{mapSettings, automerge.NewMap()},
	} {
		if err := root.Set(kv.k, kv.v); err != nil {
			return nil, fmt.Errorf("create library: set %s: %w", kv.k, err)
		}
	}
	if err := commit(doc, time.Time{}, "create library"); err != nil {
		return nil, err
	}
	return &Library{doc: doc, opts: opts}, nil
}

// OpenLibrary returns a view over doc, which must hold a library
// (ErrWrongType otherwise).
func OpenLibrary(doc *automerge.Doc, opts Options) (*Library, error) {
	if err := checkKind(doc, KindLibrary); err != nil {
		return nil, err
	}
	return &Library{doc: doc, opts: opts}, nil
}

// Doc returns the underlying document.
func (l *Library) Doc() *automerge.Doc { return l.doc }

// Owner returns the library's owner.
func (l *Library) Owner() model.UserID {
	return model.UserID(strField(l.doc.RootMap(), "owner"))
}

// add puts every id of ids set lacks into set, in one commit msg of at
// most MaxEntriesPerChange of them (several for more).
func (l *Library) add(set, msg string, ids []string) error {
	m := l.doc.Path(set).Map()
	now := l.opts.now()
	for _, id := range ids {
		if id == "" {
			return fmt.Errorf("%w: empty id", ErrInvalidArgument)
		}
		if err := checkKey(id); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidArgument, msg, err)
		}
	}
	var b batch
	for _, id := range ids {
		v, err := m.Get(id)
		if err != nil {
			return fmt.Errorf("%s: %w", msg, err)
		}
		if !v.IsVoid() {
			continue
		}
		if b.full(len(id)) {
			if err := commit(l.doc, now, msg); err != nil {
				return err
			}
			b = batch{}
		}
		b.add(len(id))
		if err := m.Set(id, now); err != nil {
			return fmt.Errorf("%s: %w", msg, err)
		}
	}
	if b.n == 0 {
		return nil
	}
	return commit(l.doc, now, msg)
}

// remove deletes every id of ids set holds from set, in commits as
// add's.
func (l *Library) remove(set, msg string, ids []string) error {
	m := l.doc.Path(set).Map()
	var b batch
	for _, id := range ids {
		v, err := m.Get(id)
		if err != nil {
			return fmt.Errorf("%s: %w", msg, err)
		}
		if v.IsVoid() {
			continue
		}
		if b.full(len(id)) {
			if err := commit(l.doc, l.opts.now(), msg); err != nil {
				return err
			}
			b = batch{}
		}
		b.add(len(id))
		if err := m.Delete(id); err != nil {
			return fmt.Errorf("%s: %w", msg, err)
		}
	}
	if b.n == 0 {
		return nil
	}
	return commit(l.doc, l.opts.now(), msg)
}

func (l *Library) members(set string) ([]Saved, error) {
	vals, err := l.doc.Path(set).Map().Values()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", set, err)
	}
	out := make([]Saved, 0, len(vals))
	for k, v := range vals {
		s := Saved{ID: k}
		if v.Kind() == automerge.KindTime {
			s.At = v.Time()
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Saved) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

func toStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// SaveTracks adds tracks to the saved set in one commit; already saved
// tracks keep their original savedAt. Like every set of the library, it
// refuses an id CheckContent would refuse as a key (over MaxKeyBytes,
// control or bidirectional formatting characters) with
// ErrInvalidArgument, committing nothing.
func (l *Library) SaveTracks(ids ...model.TrackID) error {
	return l.add(setTracks, "save tracks", toStrings(ids))
}

// UnsaveTracks removes tracks from the saved set in one commit.
func (l *Library) UnsaveTracks(ids ...model.TrackID) error {
	return l.remove(setTracks, "unsave tracks", toStrings(ids))
}

// SaveAlbums adds albums to the saved set in one commit.
func (l *Library) SaveAlbums(ids ...model.AlbumID) error {
	return l.add(setAlbums, "save albums", toStrings(ids))
}

// UnsaveAlbums removes albums from the saved set in one commit.
func (l *Library) UnsaveAlbums(ids ...model.AlbumID) error {
	return l.remove(setAlbums, "unsave albums", toStrings(ids))
}

// FollowArtists adds artists to the followed set in one commit.
func (l *Library) FollowArtists(ids ...model.ArtistID) error {
	return l.add(setArtists, "follow artists", toStrings(ids))
}

// UnfollowArtists removes artists from the followed set in one commit.
func (l *Library) UnfollowArtists(ids ...model.ArtistID) error {
	return l.remove(setArtists, "unfollow artists", toStrings(ids))
}

// FollowPlaylists adds playlist documents to the followed set in one
// commit.
func (l *Library) FollowPlaylists(ids ...DocumentID) error {
	return l.add(setPlaylists, "follow playlists", docStrings(ids))
}

// UnfollowPlaylists removes playlist documents from the followed set in
// one commit.
func (l *Library) UnfollowPlaylists(ids ...DocumentID) error {
	return l.remove(setPlaylists, "unfollow playlists", docStrings(ids))
}

func docStrings(ids []DocumentID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// Tracks returns the saved tracks, most recently saved first (ties by
// id). The slice is owned by the caller.
func (l *Library) Tracks() ([]Saved, error) { return l.members(setTracks) }

// Albums returns the saved albums, most recent first.
func (l *Library) Albums() ([]Saved, error) { return l.members(setAlbums) }

// Artists returns the followed artists, most recent first.
func (l *Library) Artists() ([]Saved, error) { return l.members(setArtists) }

// Playlists returns the followed playlist documents, most recent first.
// Keys that are not valid document ids (written by a foreign client) are
// skipped.
func (l *Library) Playlists() ([]DocumentID, error) {
	ms, err := l.members(setPlaylists)
	if err != nil {
		return nil, err
	}
	out := make([]DocumentID, 0, len(ms))
	for _, m := range ms {
		if id, err := ParseDocumentID(m.ID); err == nil {
			out = append(out, id)
		}
	}
	return out, nil
}

// SetSetting stores a string setting in one commit (none if unchanged).
// A key CheckContent would refuse (over MaxKeyBytes, control or
// bidirectional formatting characters) or a value over MaxStringBytes
// is ErrInvalidArgument.
func (l *Library) SetSetting(key, value string) error {
	if key == "" {
		return fmt.Errorf("%w: empty setting key", ErrInvalidArgument)
	}
	if err := checkKey(key); err != nil {
		return fmt.Errorf("%w: setting: %w", ErrInvalidArgument, err)
	}
	if len(value) > MaxStringBytes {
		return fmt.Errorf("%w: setting %s: a value of %d bytes, at most %d", ErrInvalidArgument, key, len(value), MaxStringBytes)
	}
	if cur, ok, err := l.Setting(key); err != nil {
		return err
	} else if ok && cur == value {
		return nil
	}
	if err := l.doc.Path(mapSettings).Map().Set(key, value); err != nil {
		return fmt.Errorf("set setting %s: %w", key, err)
	}
	return commit(l.doc, l.opts.now(), "set "+key)
}

// Setting returns a setting and whether it is set.
func (l *Library) Setting(key string) (string, bool, error) {
	v, err := l.doc.Path(mapSettings, key).Get()
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	s, ok := valueString(v)
	return s, ok, nil
}

// SetTier stores the preferred audio tier (model.ErrInvalidTier for an
// invalid one).
func (l *Library) SetTier(t model.Tier) error {
	if !t.Valid() {
		return fmt.Errorf("set tier: %w: %q", model.ErrInvalidTier, t)
	}
	return l.SetSetting(SettingTier, string(t))
}

// Tier returns the preferred tier, or def when none (or an invalid one) is
// stored.
func (l *Library) Tier(def model.Tier) (model.Tier, error) {
	s, ok, err := l.Setting(SettingTier)
	if err != nil || !ok {
		return def, err
	}
	t, perr := model.ParseTier(s)
	if perr != nil {
		return def, nil
	}
	return t, nil
}

// Import adds to l every member of from's sets that l lacks (keeping
// from's savedAt times) and every setting l does not have, in one commit
// of at most MaxEntriesPerChange of them, several for more (none when
// nothing is new). Devices use it to move a library kept under an older
// id into the one the relay assigned. It skips, and counts in skipped,
// what the library's setters refuse and so the relay would (CheckContent:
// the import's change would be refused whole): a member or setting key
// over MaxKeyBytes or with a control or bidirectional formatting
// character, a setting that is not a string or is over MaxStringBytes,
// and a set of from that is not a map (counted once).
func (l *Library) Import(from *Library) (skipped int, err error) {
	now := l.opts.now()
	var b batch
	for _, set := range []string{setTracks, setAlbums, setArtists, setPlaylists, mapSettings} {
		path := from.doc.Path(set)
		if v, err := path.Get(); err != nil {
			return skipped, fmt.Errorf("import %s: %w", set, err)
		} else if v.IsVoid() {
			continue
		} else if v.Kind() != automerge.KindMap {
			skipped++
			continue
		}
		src, err := path.Map().Values()
		if err != nil {
			return skipped, fmt.Errorf("import %s: %w", set, err)
		}
		dst := l.doc.Path(set).Map()
		for _, k := range slices.Sorted(maps.Keys(src)) {
			if k == "" || checkKey(k) != nil {
				skipped++
				continue
			}
			cur, err := dst.Get(k)
			if err != nil {
				return skipped, fmt.Errorf("import %s: %w", set, err)
			}
			if !cur.IsVoid() {
				continue
			}
			var val any = now
			switch v := src[k]; {
			case set == mapSettings:
				s, ok := valueString(v)
				if !ok || len(s) > MaxStringBytes {
					skipped++
					continue
				}
				val = s
			case v.Kind() == automerge.KindTime:
				val = v.Time()
			}
			size := len(k)
			if s, ok := val.(string); ok {
				size += len(s)
			}
			if b.full(size) {
				if err := commit(l.doc, now, "import library"); err != nil {
					return skipped, err
				}
				b = batch{}
			}
			b.add(size)
			if err := dst.Set(k, val); err != nil {
				return skipped, fmt.Errorf("import %s: %w", set, err)
			}
		}
	}
	if b.n == 0 {
		return skipped, nil
	}
	return skipped, commit(l.doc, now, "import library")
}
