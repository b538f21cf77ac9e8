package docs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
)

// recordEdit is one random edit of TestNeutralKeepsRecord, made on a
// replica's raw document; watched tells whether it writes one of
// RecordFields (or an object inside one).
type recordEdit struct {
	name    string
	watched bool
	do      func(rng *rand.Rand, d *automerge.Doc) error
}

// asPlaylist runs fn on d opened as a playlist, or does nothing when d is
// no playlist (a replica whose type was changed).
func asPlaylist(d *automerge.Doc, seed byte, fn func(p *Playlist) error) error {
	p, err := OpenPlaylist(d, testOpts(seed))
	if err != nil {
		return nil
	}
	return fn(p)
}

// textOrString returns s as a scalar or as Automerge text (as JS 3
// clients write strings).
func textOrString(rng *rand.Rand, s string) any {
	if rng.IntN(2) == 0 {
		return automerge.NewText(s)
	}
	return s
}

// spliceText edits the text at root key, if it is text: a real change,
// or a splice in and out again (the same string).
func spliceText(rng *rand.Rand, d *automerge.Doc, key string) error {
	v, err := d.RootMap().Get(key)
	if err != nil || v.Kind() != automerge.KindText {
		return err
	}
	if rng.IntN(2) == 0 {
		if err := v.Text().Insert(0, "x"); err != nil {
			return err
		}
		return v.Text().Delete(0, 1)
	}
	return v.Text().Insert(0, "y")
}

// recordEdits are the edits owners, collaborators and the service make
// in TestNeutralKeepsRecord: the everyday ones (entries, description,
// other root fields and objects, library sets), and every kind of write
// to each of RecordFields.
var recordEdits = []recordEdit{
	{"add entry", false, func(rng *rand.Rand, d *automerge.Doc) error {
		return asPlaylist(d, byte(rng.IntN(200)), func(p *Playlist) error {
			_, err := p.Add(AtEnd(), "bob", model.TrackID(fmt.Sprint("t", rng.IntN(100))))
			return err
		})
	}},
	{"move entry", false, func(rng *rand.Rand, d *automerge.Doc) error {
		return asPlaylist(d, byte(rng.IntN(200)), func(p *Playlist) error {
			es, err := p.Entries()
			if err != nil || len(es) == 0 {
				return err
			}
			return p.Move(es[rng.IntN(len(es))].ID, AtStart())
		})
	}},
	{"remove entry", false, func(rng *rand.Rand, d *automerge.Doc) error {
		return asPlaylist(d, byte(rng.IntN(200)), func(p *Playlist) error {
			es, err := p.Entries()
			if err != nil || len(es) == 0 {
				return err
			}
			return p.Remove(es[rng.IntN(len(es))].ID)
		})
	}},
	{"describe", false, func(rng *rand.Rand, d *automerge.Doc) error {
		return d.RootMap().Set("description", textOrString(rng, fmt.Sprint("about ", rng.IntN(10))))
	}},
	{"other root map", false, func(rng *rand.Rand, d *automerge.Doc) error {
		v, err := d.RootMap().Get("prefs")
		if err != nil {
			return err
		}
		if v.Kind() != automerge.KindMap {
			return d.RootMap().Set("prefs", automerge.NewMap())
		}
		return v.Map().Set(fmt.Sprint("k", rng.IntN(3)), rng.IntN(5))
	}},
	{"library sets", false, func(rng *rand.Rand, d *automerge.Doc) error {
		l, err := OpenLibrary(d, testOpts(3))
		if err != nil {
			return nil
		}
		if rng.IntN(2) == 0 {
			return l.SaveTracks(model.TrackID(fmt.Sprint("t", rng.IntN(20))))
		}
		return l.UnsaveTracks(model.TrackID(fmt.Sprint("t", rng.IntN(20))))
	}},
	{"rename", true, func(rng *rand.Rand, d *automerge.Doc) error {
		return d.RootMap().Set("name", textOrString(rng, fmt.Sprint("name ", rng.IntN(4))))
	}},
	{"name text splice", true, func(rng *rand.Rand, d *automerge.Doc) error { return spliceText(rng, d, "name") }},
	{"owner", true, func(rng *rand.Rand, d *automerge.Doc) error {
		return d.RootMap().Set("owner", textOrString(rng, []string{"alice", "bob", string(ServiceUser)}[rng.IntN(3)]))
	}},
	{"owner same value over a put", true, func(rng *rand.Rand, d *automerge.Doc) error {
		return setTwice(d.RootMap(), "owner", "bob", "alice")
	}},
	{"owner text splice", true, func(rng *rand.Rand, d *automerge.Doc) error { return spliceText(rng, d, "owner") }},
	{"share", true, func(rng *rand.Rand, d *automerge.Doc) error {
		v, err := d.RootMap().Get("collaborators")
		if err != nil {
			return err
		}
		if v.Kind() != automerge.KindMap {
			return d.RootMap().Set("collaborators", automerge.NewMap())
		}
		return v.Map().Set(collabKeys[rng.IntN(len(collabKeys))], rng.IntN(3) > 0)
	}},
	{"unshare", true, func(rng *rand.Rand, d *automerge.Doc) error {
		v, err := d.RootMap().Get("collaborators")
		if err != nil || v.Kind() != automerge.KindMap {
			return err
		}
		keys, err := v.Map().Keys()
		if err != nil || len(keys) == 0 {
			return err
		}
		return v.Map().Delete(keys[rng.IntN(len(keys))])
	}},
	{"nested collaborator", true, func(rng *rand.Rand, d *automerge.Doc) error {
		v, err := d.Path("collaborators", "carol").Get()
		if err != nil {
			return err
		}
		if v.Kind() == automerge.KindMap {
			return v.Map().Set("role", []string{"reader", "writer"}[rng.IntN(2)])
		}
		c, err := d.RootMap().Get("collaborators")
		if err != nil || c.Kind() != automerge.KindMap {
			return err
		}
		return c.Map().Set("carol", automerge.NewMap())
	}},
	{"collaborators replaced", true, func(rng *rand.Rand, d *automerge.Doc) error {
		m := automerge.NewMap()
		if err := d.RootMap().Set("collaborators", m); err != nil {
			return err
		}
		return m.Set("dave", true)
	}},
	{"public flip", true, func(rng *rand.Rand, d *automerge.Doc) error {
		return d.RootMap().Set("public", rng.IntN(2) == 0)
	}},
	{"public same value over a put", true, func(rng *rand.Rand, d *automerge.Doc) error {
		v, err := d.RootMap().Get("public")
		if err != nil {
			return err
		}
		cur := v.Kind() == automerge.KindBool && v.Bool()
		return setTwice(d.RootMap(), "public", !cur, cur)
	}},
	{"type", true, func(rng *rand.Rand, d *automerge.Doc) error {
		return d.RootMap().Set("type", []string{"playlist", "library", "playlist"}[rng.IntN(3)])
	}},
	{"service fields", true, func(rng *rand.Rand, d *automerge.Doc) error {
		f := []string{fieldService, fieldListener, fieldPeriod}[rng.IntN(3)]
		return d.RootMap().Set(f, textOrString(rng, fmt.Sprint("v", rng.IntN(3))))
	}},
	{"delete a watched field", true, func(rng *rand.Rand, d *automerge.Doc) error {
		return d.RootMap().Delete(RecordFields[rng.IntN(len(RecordFields))])
	}},
}

// TestNeutralKeepsRecord: with seeded randomness, documents of every kind
// (playlists with scalar or text owner and name and nested collaborators,
// libraries, service playlists) evolve on a relay's copy through rounds
// of batches from replicas — the owner's, a collaborator's and a second
// device's — that sync with the relay or not before they edit (so
// batches hold concurrent, conflicting puts at watched keys and edits
// inside objects another replica replaced). Whenever Neutral holds for
// every change of a batch, the ACL check passes the batch and the
// relay's record after applying it equals the record before; both
// outcomes must occur often, so the test cannot pass vacuously.
func TestNeutralKeepsRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 0x2ec))
	ndocs, rounds := 36, 25
	if testing.Short() {
		ndocs = 9
	}
	var neutral, touching, touchingChanged, watchedNeutral int
	for di := range ndocs {
		relay := automerge.New()
		seed := byte(1 + di%200)
		switch di % 3 {
		case 0:
			p, err := CreatePlaylist(relay, "alice", "Road trip", testOpts(seed))
			must(t, err)
			must(t, p.SetCollaborators("bob"))
			if rng.IntN(2) == 0 {
				must(t, relay.RootMap().Set("owner", automerge.NewText("alice")))
				must(t, relay.RootMap().Set("name", automerge.NewText("Road trip")))
			}
			if rng.IntN(2) == 0 {
				must(t, relay.Path("collaborators").Map().Set("carol", automerge.NewMap()))
				must(t, relay.Path("collaborators", "carol").Map().Set("role", "writer"))
			}
			_, err = p.Add(AtEnd(), "alice", "a1", "a2")
			must(t, err)
		case 1:
			_, err := CreateLibrary(relay, "alice", testOpts(seed))
			must(t, err)
		default:
			_, err := CreateServicePlaylist(relay, "alice", "discover_weekly", "Discover", testOpts(seed))
			must(t, err)
		}
		commitPending(t, relay)
		replicas := make([]*automerge.Doc, 3)
		for i := range replicas {
			d, err := relay.Fork()
			must(t, err)
			replicas[i] = d
		}
		for r := range rounds {
			before, err := ReadACLRecord(relay)
			must(t, err)
			var changes []*automerge.Change
			var names []string
			watched := false
			for i, d := range replicas {
				if rng.IntN(3) == 0 {
					continue // this replica sends nothing this round
				}
				if rng.IntN(3) > 0 {
					// Sync from the relay first; else edit a stale copy.
					missing, err := relay.Changes(d.Heads()...)
					must(t, err)
					must(t, d.Apply(missing...))
				}
				sent := d.Heads()
				for range 1 + rng.IntN(2) {
					e := recordEdits[rng.IntN(len(recordEdits))]
					if rng.IntN(5) < 3 {
						e = recordEdits[rng.IntN(6)] // mostly everyday edits
					}
					if err := e.do(rng, d); err != nil {
						t.Fatalf("doc %d round %d replica %d %s: %v", di, r, i, e.name, err)
					}
					watched = watched || e.watched
					names = append(names, fmt.Sprint(i, ": ", e.name))
					commitPending(t, d)
				}
				mine, err := d.Changes(sent...)
				must(t, err)
				changes = append(changes, mine...)
			}
			isNeutral := true
			for _, ch := range changes {
				if relay.HasChange(ch.Hash()) {
					continue
				}
				ops, err := DecodeChangeOps(ch.Save())
				must(t, err)
				isNeutral = isNeutral && Neutral(ops, before)
			}
			rng.Shuffle(len(changes), func(i, j int) { changes[i], changes[j] = changes[j], changes[i] })
			if isNeutral {
				// The relay takes a collaborator's neutral batch without
				// the ACL check (sync/repo): the check must pass it.
				if err := CheckACLUntouched(relay, changes); err != nil {
					t.Fatalf("doc %d round %d %q: the ACL check refuses a neutral batch: %v", di, r, names, err)
				}
			}
			must(t, relay.Apply(changes...))
			after, err := ReadACLRecord(relay)
			must(t, err)
			where := fmt.Sprintf("doc %d round %d %q", di, r, names)
			switch {
			case isNeutral && !after.Equal(before):
				t.Fatalf("%s: neutral batch changed the record\nbefore %+v\nafter  %+v", where, before, after)
			case isNeutral:
				neutral++
				if watched {
					watchedNeutral++
				}
			default:
				touching++
				if !after.Equal(before) {
					touchingChanged++
				}
			}
		}
	}
	t.Logf("batches: %d neutral (%d with a watched edit that wrote no operation or one into an invisible object), %d not neutral (%d of them changed the record)",
		neutral, watchedNeutral, touching, touchingChanged)
	if neutral < 50 || touching < 50 || touchingChanged == 0 {
		t.Fatal("the random batches did not reach every outcome often enough")
	}
}

// TestReadACLRecord: the record of each kind of document, and a value
// nested too deep to collect, which makes every change not neutral.
func TestReadACLRecord(t *testing.T) {
	playlist := newPlaylist(t, 1)
	must(t, playlist.SetCollaborators("carol", "bob"))
	must(t, playlist.SetPublic(true))
	service, err := CreateServicePlaylist(automerge.New(), "ann", "daily_mix_1", "Mix", testOpts(2))
	must(t, err)
	library, err := CreateLibrary(automerge.New(), "alice", testOpts(3))
	must(t, err)
	deep := newPlaylist(t, 4)
	m := deep.Doc().Path("collaborators").Map()
	for range maxACLDepth + 1 {
		next := automerge.NewMap()
		must(t, m.Set("x", next))
		m = next
	}
	commitPending(t, deep.Doc())
	entryAdd := func(t *testing.T) *ChangeOps {
		p := newPlaylist(t, 5)
		base := p.Doc().Heads()
		_, err := p.Add(AtEnd(), "alice", "t")
		must(t, err)
		chs, err := p.Doc().Changes(base...)
		must(t, err)
		ops, err := DecodeChangeOps(chs[0].Save())
		must(t, err)
		return ops
	}(t)
	cases := []struct {
		name         string
		doc          *automerge.Doc
		want         ACLRecord
		objs         int
		entryNeutral bool
	}{
		{"playlist", playlist.Doc(), ACLRecord{Kind: KindPlaylist, Owner: "alice", Collaborators: []model.UserID{"bob", "carol"}, Public: true, Name: "Road trip"}, 1, true},
		{"service playlist", service.Doc(), ACLRecord{Kind: KindPlaylist, Owner: ServiceUser, Name: "Mix", Service: "daily_mix_1", Listener: "ann"}, 1, true},
		{"library", library.Doc(), ACLRecord{Kind: KindLibrary, Owner: "alice"}, 0, true},
		{"too deep", deep.Doc(), ACLRecord{Kind: KindPlaylist, Owner: "alice", Name: "Road trip"}, maxACLDepth, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, err := ReadACLRecord(c.doc)
			must(t, err)
			got := *rec
			got.Objs, got.deep = nil, nil
			if !slices.Equal(got.Collaborators, c.want.Collaborators) || got.Kind != c.want.Kind || got.Owner != c.want.Owner ||
				got.Public != c.want.Public || got.Name != c.want.Name || got.Service != c.want.Service ||
				got.Listener != c.want.Listener || got.Period != c.want.Period {
				t.Fatalf("record %+v, want %+v", got, c.want)
			}
			if len(rec.Objs) != c.objs {
				t.Fatalf("%d objects, want %d", len(rec.Objs), c.objs)
			}
			if n := Neutral(entryAdd, rec); n != c.entryNeutral {
				t.Fatalf("an entry add is neutral: %v, want %v", n, c.entryNeutral)
			}
		})
	}
}
