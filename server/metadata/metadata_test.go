package metadata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/store"
)

const good = `{"type":"artist","id":"ar1","name":"AC/DC","popularity":90}
{"type":"artist","id":"ar2","name":"Björk"}
{"type":"album","id":"al1","title":"Highway to Hell","artist_ids":["ar1"],"release_date":"1979-07-27","label":"Atlantic","genres":["rock"],"cover_art":"blob:` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `"}
{"type":"track","id":"tr1","title":"Highway to Hell","artist_ids":["ar1"],"featured_artist_ids":["ar2"],"album_id":"al1","duration_ms":208000,"disc_number":1,"track_number":1,"isrc":"AUAP07900001","explicit":false,"popularity":80}

{"type":"track","id":"tr2","title":"Girls Got Rhythm","artist_ids":["ar1"],"album_id":"al1","duration_ms":203000,"disc_number":1,"track_number":2,"isrc":"AUAP07900002"}
`

func TestParseLine(t *testing.T) {
	track := func(extra string) string {
		return `{"type":"track","id":"t","title":"T","artist_ids":["a"],"album_id":"b","duration_ms":1000,"disc_number":1,"track_number":1` + extra + `}`
	}
	wide := strings.Repeat("€", 40) // 120 bytes
	cases := []struct {
		name, line, want string // want: "" for valid, else part of the error
	}{
		{"artist", `{"type":"artist","id":"a","name":"P!nk"}`, ""},
		{"track", track(`,"isrc":"USRC17607839","explicit":true`), ""},
		{"year only", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"release_date":"1999"}`, ""},
		{"https cover", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"cover_art":"https://img.example/a.jpg"}`, ""},
		{"no type", `{"id":"a","name":"x"}`, `no "type"`},
		{"bad type", `{"type":"song","id":"a"}`, `type "song"`},
		{"not json", `{"type":`, "unexpected end"},
		{"unknown field", `{"type":"artist","id":"a","name":"x","nmae":"y"}`, "unknown field"},
		{"trailing", `{"type":"artist","id":"a","name":"x"} {}`, "after top-level value"},
		{"name twice", `{"type":"artist","id":"a","name":"Shown","name":"Imported"}`, `field "name" given twice`},
		{"type twice", `{"type":"artist","type":"album","id":"a","title":"x","artist_ids":["b"]}`, `field "type" given twice`},
		{"key in upper case", `{"type":"artist","id":"a","name":"x","NAME":"y"}`, `unknown field "NAME"`},
		{"id capitalised", `{"type":"artist","Id":"a","name":"x"}`, `unknown field "Id"`},
		{"kelvin sign folds to k", strings.Replace(track(""), `"track_number"`, `"trac\u212a_number"`, 1), "unknown field"},
		{"type key capitalised", `{"TYPE":"artist","id":"a","name":"x"}`, `unknown field "TYPE"`},
		{"array value skipped", track(`,"featured_artist_ids":["c","d"]`), ""},
		{"escaped key", `{"type":"artist","id":"a","na\u006de":"x"}`, "unknown field"},
		{"quote and colon in a value", `{"type":"artist","id":"a","name":"say \"id\": \\ hi"}`, ""},
		{"key names as values", `{"type":"album","id":"a","title":"type","artist_ids":["b"],"genres":["id","id"]}`, ""},
		{"lone high surrogate", `{"type":"artist","id":"a","name":"x\ud83c"}`, "unpaired UTF-16 surrogate escape \\ud83c"},
		{"lone low surrogate", `{"type":"artist","id":"a","name":"\uDF89x"}`, "unpaired UTF-16 surrogate"},
		{"high then no low", `{"type":"artist","id":"a","name":"\ud83c\u0041"}`, "unpaired"},
		{"surrogate pair", `{"type":"artist","id":"a","name":"Party \ud83c\udf89 \u00e9\\u"}`, ""},
		{"space before the colon", `{"type" : "artist", "id":"a" ,"name"  :"x", "name" :"y"}`, `field "name" given twice`},
		{"wrong type", `{"type":"artist","id":"a","name":3}`, `field "name"`},
		{"empty name", `{"type":"artist","id":"a","name":"  "}`, "name: empty"},
		{"bad id", `{"type":"artist","id":"a/b","name":"x"}`, "only letters"},
		{"long id", `{"type":"artist","id":"` + strings.Repeat("a", 65) + `","name":"x"}`, "1 to 64"},
		{"control", `{"type":"artist","id":"a","name":"x\u0007"}`, "control"},
		{"bidi override name", `{"type":"artist","id":"a","name":"evil\u202egnp.exe"}`, "name: safetext: bidirectional formatting character U+202E (RIGHT-TO-LEFT OVERRIDE)"},
		{"bidi embedding album title", `{"type":"album","id":"a","title":"\u202bx","artist_ids":["b"]}`, "title: safetext: bidirectional formatting character U+202B"},
		{"bidi isolate label", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"label":"L\u2066"}`, "label: safetext: bidirectional formatting character U+2066"},
		{"bidi genre", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"genres":["ro\u202dck"]}`, "U+202D"},
		{"bidi track title", strings.Replace(track(""), `"title":"T"`, `"title":"T\u2069"`, 1), "title: safetext: bidirectional formatting character U+2069"},
		{"bidi cover url", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"cover_art":"https://img.example/\u202ea.jpg"}`, "cover_art"},
		{"rtl mark allowed", `{"type":"artist","id":"a","name":"فيروز\u200f"}`, ""},
		{"negative popularity", `{"type":"artist","id":"a","name":"x","popularity":-1}`, "popularity"},
		{"no album artist", `{"type":"album","id":"a","title":"x","artist_ids":[]}`, "at least 1"},
		{"bad date", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"release_date":"1999-13-01"}`, "release_date"},
		{"bad cover", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"cover_art":"http://x"}`, "cover_art"},
		{"short blob", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"cover_art":"blob:abc"}`, "64 lowercase"},
		{"bad isrc", track(`,"isrc":"US-RC1-76-07839"`), "isrc"},
		{"lower isrc", track(`,"isrc":"usrc17607839"`), "isrc"},
		{"zero duration", strings.Replace(track(""), `"duration_ms":1000`, `"duration_ms":0`, 1), "duration_ms"},
		{"track 0", strings.Replace(track(""), `"track_number":1`, `"track_number":0`, 1), "track_number"},
		{"main and featured", track(`,"featured_artist_ids":["a"]`), "both main and featured"},
		{"artist twice", strings.Replace(track(""), `["a"]`, `["a","a"]`, 1), "twice"},
		{"invalid utf8", "{\"type\":\"artist\",\"id\":\"a\",\"name\":\"\xff\"}", "UTF-8"},
		// Input of multi-byte runes (wide): %.Nq cut N runes, echoing
		// up to 4N bytes; at most safetext.MaxQuoted are echoed.
		{"wide type", `{"type":"` + wide + `","id":"a","name":"x"}`, "type"},
		{"wide unknown field", `{"type":"artist","id":"a","name":"x","` + wide + `":1}`, "unknown field"},
		{"wide id", `{"type":"artist","id":"` + wide + `","name":"x"}`, "want 1 to 64"},
		{"wide genre", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"genres":["` + wide + `\u0001"]}`, "genres"},
		{"wide release date", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"release_date":"` + wide + `"}`, "release_date"},
		{"wide cover", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"cover_art":"` + wide + `"}`, "cover_art"},
		{"wide blob cover", `{"type":"album","id":"a","title":"x","artist_ids":["b"],"cover_art":"blob:` + wide + `"}`, "cover_art"},
		{"wide isrc", track(`,"isrc":"` + wide + `"`), "isrc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseLine([]byte(c.line))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case c.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want ErrInvalid containing %q", err, c.want)
			case err != nil && strings.Contains(err.Error(), strings.Repeat("€", safetext.MaxQuoted/3+1)):
				t.Fatalf("error %v echoes more than %d bytes of input", err, safetext.MaxQuoted)
			}
		})
	}
}

func FuzzParseLine(f *testing.F) {
	for _, l := range strings.Split(good, "\n") {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := ParseLine(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if rec.ID() == "" {
			t.Fatal("a valid record without an id")
		}
	})
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.jsonl")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// dump returns every key and value of st.
func dump(t *testing.T, st store.Store) string {
	t.Helper()
	var b strings.Builder
	if err := st.Iterate(context.Background(), nil, false, func(k, v []byte) error {
		fmt.Fprintf(&b, "%q=%x\n", k, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var quiet = DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))

func TestImport(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	im := New(st, nil, quiet.WithChunk(2))
	rep, err := im.ImportFile(ctx, writeFile(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Artists != 2 || rep.Albums != 1 || rep.Tracks != 2 || rep.ErrorCount != 0 {
		t.Fatalf("report %+v", rep)
	}
	tr, err := im.Track(ctx, "tr1")
	if err != nil || tr.Title != "Highway to Hell" || tr.FeaturedArtistIDs[0] != "ar2" || tr.DurationMS != 208000 {
		t.Fatalf("track %+v %v", tr, err)
	}
	al, err := im.Album(ctx, "al1")
	if err != nil || al.Label != "Atlantic" || al.Genres[0] != "rock" || !strings.HasPrefix(al.CoverArt, "blob:") {
		t.Fatalf("album %+v %v", al, err)
	}
	if id, err := im.TrackByISRC(ctx, "AUAP07900002"); err != nil || id != "tr2" {
		t.Fatalf("isrc → %q %v", id, err)
	}
	if _, err := im.Track(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing track: %v", err)
	}
	// No journal or undo record is left.
	if d := dump(t, st); strings.Contains(d, "cmeta/undo") || strings.Contains(d, "cmeta/journal") {
		t.Fatalf("leftovers:\n%s", d)
	}
	// A second file refers to the imported artist and album, and moves
	// tr2 to another ISRC: the old one no longer finds it.
	second := `{"type":"track","id":"tr3","title":"Walk All Over You","artist_ids":["ar1"],"album_id":"al1","duration_ms":310000,"disc_number":1,"track_number":3}
{"type":"track","id":"tr2","title":"Girls Got Rhythm","artist_ids":["ar1"],"album_id":"al1","duration_ms":203000,"disc_number":1,"track_number":2,"isrc":"AUAP07900009"}
`
	if _, err := im.ImportFile(ctx, writeFile(t, second)); err != nil {
		t.Fatal(err)
	}
	if _, err := im.TrackByISRC(ctx, "AUAP07900002"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old isrc still found: %v", err)
	}
	if id, _ := im.TrackByISRC(ctx, "AUAP07900009"); id != "tr2" {
		t.Fatalf("new isrc → %q", id)
	}
	// Attach by id.
	if err := im.Attach(ctx, "tr3", "trabcdefgh"); err != nil {
		t.Fatal(err)
	}
	if a, _ := im.Audio(ctx, "tr3"); a != "trabcdefgh" {
		t.Fatalf("audio %q", a)
	}
	if err := im.Attach(ctx, "nope", "trabcdefgh"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("attach to a missing track: %v", err)
	}
}

// TestImportRefused: any invalid line refuses the file, every error is
// reported with its line number, and nothing is written.
func TestImportRefused(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	im := New(st, nil, quiet)
	if _, err := im.ImportFile(ctx, writeFile(t, good)); err != nil {
		t.Fatal(err)
	}
	before := dump(t, st)
	bad := good + `{"type":"track","id":"tr9","title":"x","artist_ids":["ar404"],"album_id":"al1","duration_ms":1,"disc_number":1,"track_number":1}
{"type":"artist","id":"ar1","name":"again"}
not json
{"type":"track","id":"tr8","title":"x","artist_ids":["ar1"],"album_id":"al1","duration_ms":1,"disc_number":1,"track_number":1,"isrc":"AUAP07900001"}
{"type":"track","id":"tr7","title":"x","artist_ids":["ar1"],"album_id":"al404","duration_ms":1,"disc_number":1,"track_number":1}
`
	rep, err := im.ImportFile(ctx, writeFile(t, bad))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("error %v", err)
	}
	want := map[int]string{7: "ar404", 8: "defined twice", 9: "invalid character", 10: `isrc AUAP07900001 also on track "tr1" in this file (line 4)`, 11: "al404"}
	if rep.ErrorCount != len(want) {
		t.Errorf("%d errors: %+v", rep.ErrorCount, rep.Errors)
	}
	for _, le := range rep.Errors {
		if w, ok := want[le.Line]; !ok || !strings.Contains(le.Err, w) {
			t.Errorf("line %d: %s (want %q)", le.Line, le.Err, w)
		}
	}
	if dump(t, st) != before {
		t.Error("a refused import changed the store")
	}
	// An ISRC held by another imported track is refused too, on the line
	// that gives it (it was reported as line 0), in line order.
	steal := `{"type":"artist","id":"ar3","name":"x"}
{"type":"track","id":"tr5","title":"x","artist_ids":["ar1"],"album_id":"al1","duration_ms":1,"disc_number":1,"track_number":1,"isrc":"AUAP07900002"}
{"type":"track","id":"tr6","title":"x","artist_ids":["ar1"],"album_id":"al1","duration_ms":1,"disc_number":1,"track_number":1,"isrc":"AUAP07900001"}
`
	rep, err = im.ImportFile(ctx, writeFile(t, steal))
	if !errors.Is(err, ErrRefused) || len(rep.Errors) != 2 {
		t.Fatalf("%v %+v", err, rep)
	}
	for i, w := range []struct {
		line int
		text string
	}{{2, `isrc AUAP07900002 of track "tr5" already belongs to imported track "tr2"`}, {3, `already belongs to imported track "tr1"`}} {
		if le := rep.Errors[i]; le.Line != w.line || !strings.Contains(le.Err, w.text) {
			t.Errorf("error %d: line %d %s; want line %d saying %q", i, le.Line, le.Err, w.line, w.text)
		}
	}
	// The report lists at most the limit, and counts all.
	many := strings.Repeat("{}\n", 250)
	rep, _ = New(st, nil, quiet.WithMaxErrors(10)).ImportFile(ctx, writeFile(t, many))
	if rep.ErrorCount != 250 || len(rep.Errors) != 10 {
		t.Errorf("%d errors, %d listed", rep.ErrorCount, len(rep.Errors))
	}
	// A line over the limit.
	if _, err := im.ImportFile(ctx, writeFile(t, strings.Repeat("x", MaxLineBytes+2))); !errors.Is(err, ErrInvalid) {
		t.Errorf("long line: %v", err)
	}
}

// failingHook fails the chunk after ok chunks.
type failingHook struct{ ok, n int }

var errHook = errors.New("hook failed")

func (h *failingHook) Writes(_ context.Context, chunk []Record, _ Names) ([]KV, error) {
	h.n++
	if h.n > h.ok {
		return nil, errHook
	}
	var out []KV
	for _, r := range chunk {
		out = append(out, KV{Key: store.Key("idx", r.ID()), Value: []byte("x")})
	}
	return out, nil
}

func (h *failingHook) Committed(context.Context, []Record, Names) error { return nil }

// TestImportRollback: a failure in the third chunk undoes the first two,
// including overwritten records and the hook's writes.
func TestImportRollback(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	if _, err := New(st, nil, quiet).ImportFile(ctx, writeFile(t, good)); err != nil {
		t.Fatal(err)
	}
	before := dump(t, st)
	changed := strings.ReplaceAll(good, "Highway to Hell", "Highway to Heaven")
	_, err := New(st, &failingHook{ok: 2}, quiet.WithChunk(2)).ImportFile(ctx, writeFile(t, changed))
	if !errors.Is(err, errHook) {
		t.Fatalf("error %v", err)
	}
	if after := dump(t, st); after != before {
		t.Errorf("rollback left a different store:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// crashStore fails every Update after the first n, like a process that
// died: nothing more is written.
type crashStore struct {
	store.Store
	n int
}

func (c *crashStore) Update(ctx context.Context, fn func(store.Txn) error) error {
	if c.n <= 0 {
		return errors.New("crashed")
	}
	c.n--
	return c.Store.Update(ctx, fn)
}

func (c *crashStore) Delete(ctx context.Context, key []byte) error {
	if c.n <= 0 {
		return errors.New("crashed")
	}
	return c.Store.Delete(ctx, key)
}

// TestRecover: an import interrupted after some chunks (its rollback
// impossible too) is rolled back by Recover at the next start; one
// interrupted after its commit keeps its records and loses its undo log.
func TestRecover(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	if _, err := New(mem, nil, quiet).ImportFile(ctx, writeFile(t, `{"type":"artist","id":"ar1","name":"Old"}`)); err != nil {
		t.Fatal(err)
	}
	before := dump(t, mem)
	// begin + 2 chunks, then the crash.
	_, err := New(&crashStore{Store: mem, n: 3}, nil, quiet.WithChunk(2)).ImportFile(ctx, writeFile(t, good))
	if err == nil || !strings.Contains(err.Error(), "Recover") {
		t.Fatalf("error %v", err)
	}
	if d := dump(t, mem); !strings.Contains(d, "cmeta/journal") {
		t.Fatal("no journal after the crash")
	}
	im := New(mem, nil, quiet)
	if _, err := im.ImportFile(ctx, writeFile(t, good)); !errors.Is(err, ErrBusy) {
		t.Fatalf("import over an unrecovered journal: %v", err)
	}
	if found, err := im.Recover(ctx); err != nil || !found {
		t.Fatalf("recover: %v %v", found, err)
	}
	if after := dump(t, mem); after != before {
		t.Errorf("recover left:\n%s\nwant\n%s", after, before)
	}
	// Crash after the commit (begin + 3 chunks + commit), before the
	// undo log is removed.
	_, err = New(&crashStore{Store: mem, n: 5}, nil, quiet.WithChunk(2)).ImportFile(ctx, writeFile(t, good))
	if err != nil {
		t.Fatalf("committed import: %v", err)
	}
	if found, err := im.Recover(ctx); err != nil || !found {
		t.Fatalf("recover: %v %v", found, err)
	}
	if a, err := im.Artist(ctx, "ar1"); err != nil || a.Name != "AC/DC" {
		t.Fatalf("artist after recover: %+v %v", a, err)
	}
	if d := dump(t, mem); strings.Contains(d, "cmeta/undo") || strings.Contains(d, "cmeta/journal") {
		t.Errorf("leftovers:\n%s", d)
	}
}

// TestRollbackResumes: a rollback of more undo records than one batch
// that dies after its first batch is finished by Recover, and the store
// is as before the import.
func TestRollbackResumes(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	if _, err := New(mem, nil, quiet).ImportFile(ctx, writeFile(t, good)); err != nil {
		t.Fatal(err)
	}
	before := dump(t, mem)
	var b strings.Builder
	for i := range 3*undoBatch + 500 {
		fmt.Fprintf(&b, `{"type":"artist","id":"big%d","name":"Artist %d"}`+"\n", i, i)
	}
	// begin + 3 chunks of 1,000 (2,000 undo records each, with the hook's
	// writes; the hook refuses the fourth chunk), then one rollback batch,
	// then the crash.
	_, err := New(&crashStore{Store: mem, n: 1 + 3 + 1}, &failingHook{ok: 3}, quiet.WithChunk(undoBatch)).ImportFile(ctx, writeFile(t, b.String()))
	if err == nil || !strings.Contains(err.Error(), "roll back: crashed") {
		t.Fatalf("import: %v, want the rollback's crash", err)
	}
	if d := dump(t, mem); !strings.Contains(d, "cmeta/journal") || !strings.Contains(d, "big0") {
		t.Fatal("the crash did not leave a half rolled-back import")
	}
	if found, err := New(mem, nil, quiet).Recover(ctx); err != nil || !found {
		t.Fatalf("recover: %v %v", found, err)
	}
	if after := dump(t, mem); after != before {
		t.Errorf("recover left a different store:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestImportCancelled: a cancelled import is rolled back.
func TestImportCancelled(t *testing.T) {
	st := store.NewMemory()
	before := dump(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	opened := 0
	_, err := New(st, nil, quiet.WithChunk(1)).Import(ctx, func() (io.ReadCloser, error) {
		opened++
		if opened == 2 {
			// Cancel while writing: after the first line.
			return io.NopCloser(io.MultiReader(strings.NewReader(strings.SplitAfter(good, "\n")[0]), readerFunc(func([]byte) (int, error) {
				cancel()
				return 0, io.EOF
			}), strings.NewReader(strings.Join(strings.SplitAfter(good, "\n")[1:], "")))), nil
		}
		return io.NopCloser(bytes.NewReader([]byte(good))), nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if after := dump(t, st); after != before {
		t.Errorf("cancelled import left:\n%s", after)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }
