package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/player/ogg"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

var testSigner = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

func newCatalog() (*catalog.Catalog, *store.Memory) {
	s := store.NewMemory()
	return catalog.New(s, catalog.AtRestKey{9}), s
}

// stream fetches, verifies and decrypts one (track, tier) from the catalog
// and returns the manifest, the header and the chunk plaintexts.
func stream(t *testing.T, c *catalog.Catalog, id model.TrackID, tier model.Tier) (*model.Manifest, []byte, [][]byte) {
	t.Helper()
	ctx := context.Background()
	env, err := c.Manifest(ctx, id, tier)
	if err != nil {
		t.Fatal(err)
	}
	m, err := crypto.OpenManifest(testSigner.Public().(ed25519.PublicKey), env)
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.ContentKeyAt(ctx, id, tier, time.Now()) // the test albums carry no embargo
	if err != nil {
		t.Fatal(err)
	}
	get := func(ref model.BlobRef, index uint64) []byte {
		b, err := c.Blob(ctx, ref.SHA256)
		if err != nil || int64(len(b)) != ref.Size || crypto.BlobHash(b) != ref.SHA256 {
			t.Fatalf("blob %d: %v", index, err)
		}
		out := make([]byte, len(b))
		crypto.XORKeyStream(key, index, 0, out, b)
		return out
	}
	hdr := get(m.Header, 0)
	var chunks [][]byte
	for i, ch := range m.Chunks {
		chunks = append(chunks, get(ch.Blob, uint64(i+1)))
	}
	return m, hdr, chunks
}

func countKeys(t *testing.T, s store.Store) int {
	n := 0
	if err := s.Iterate(context.Background(), nil, false, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIngestDemoAlbumPreEncoded(t *testing.T) {
	ctx := context.Background()
	c, s := newCatalog()
	req, err := LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	stages := map[Stage]int{}
	opts := DefaultOptions().WithEncoders("no-such-oggenc", "no-such-ffmpeg").WithProgress(func(p Progress) {
		mu.Lock()
		stages[p.Stage]++
		mu.Unlock()
	})
	res, err := Ingest(ctx, c, testSigner, req, opts)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := demoalbum.Album()
	var albumID model.AlbumID
	for i, tr := range res.Tracks {
		want := meta.Tracks[i]
		sha, _ := hex.DecodeString(want.MasterSHA256)
		if tr.Skipped || tr.ID != catalog.TrackIDFromMaster([32]byte(sha)) {
			t.Fatalf("track %d: %+v", i, tr)
		}
		got, err := c.Track(ctx, tr.ID)
		if err != nil || got.Title != want.Title || got.Samples != want.Samples || got.Loudness != want.Loudness || len(got.Tiers) != 4 {
			t.Fatalf("track %d: %+v (%v)", i, got, err)
		}
		albumID = got.AlbumID
		for _, tier := range model.Tiers {
			m, hdr, chunks := stream(t, c, tr.ID, tier)
			orig, _ := demoalbum.FS.ReadFile("data/" + want.Tiers[tier])
			joined := hdr
			for ci, ch := range chunks {
				joined = append(joined, ch[m.Chunks[ci].PrimerSize:]...)
			}
			if !bytes.Equal(joined, orig) {
				t.Fatalf("track %d tier %s: decrypted stream differs from the fixture", i, tier)
			}
			// The low tier was cut from the piece resampled once: its
			// place in the album is recorded for the player.
			if tier == model.TierLow && (m.Timing == nil || m.Timing.RunOffset != want.CutOffset || m.Timing.SourceSamples != want.Samples) {
				t.Fatalf("track %d low tier timing %+v, want offset %d", i, m.Timing, want.CutOffset)
			}
		}
	}
	al, err := c.Album(ctx, albumID)
	if err != nil || al.Title != "Segue Demo" || len(al.TrackIDs) != 4 || al.TrackIDs[0] != res.Tracks[0].ID {
		t.Fatalf("album %+v (%v)", al, err)
	}
	if stages[StageStore] != 16 || stages[StageDone] != 4 || stages[StagePublish] != 1 {
		t.Fatalf("progress stages %v", stages)
	}

	// Re-ingesting is idempotent: same ids, nothing written.
	before := countKeys(t, s)
	res2, err := Ingest(ctx, c, testSigner, req, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range res2.Tracks {
		if !tr.Skipped || tr.ID != res.Tracks[i].ID {
			t.Fatalf("re-ingest track %d: %+v", i, tr)
		}
	}
	if after := countKeys(t, s); after != before {
		t.Fatalf("re-ingest changed the store: %d keys, was %d", after, before)
	}
}

// sineWAV returns a float WAV of n frames of a two-tone chord.
func sineWAV(t testing.TB, n, rate, channels int) []byte {
	t.Helper()
	pcm := make([]float32, n*channels)
	for i := range n {
		for c := range channels {
			x := float64(i) / float64(rate)
			pcm[i*channels+c] = float32(0.3*math.Sin(2*math.Pi*220*x*float64(c+1)) + 0.1*math.Sin(2*math.Pi*331*x))
		}
	}
	var b bytes.Buffer
	if err := demoalbum.WriteWAV(&b, pcm, rate, channels); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func oggdecSamples(t *testing.T, data []byte, channels int) int64 {
	t.Helper()
	tool := testtool.Need(t, "oggdec")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.ogg"), filepath.Join(dir, "out.raw")
	os.WriteFile(in, data, 0o644)
	if b, err := exec.Command(tool, "-Q", "-R", "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("oggdec: %v %s", err, b)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size() / int64(2*channels)
}

func TestIngestMasters(t *testing.T) {
	const n = 3*44100 + 17 // not a multiple of any block size
	wavFile := sineWAV(t, n, 44100, 2)
	sidecar := []byte(`{"title":"Chord","artists":["Tester"],"album":"Tests","track_number":2,"rights":[{"party":"A","role":"performer","share":0.25},{"party":"B","role":"label","share":"0.75"}]}`)
	tests := []struct {
		name   string
		oggenc string
		ffmpeg string
		tool   string
	}{
		{"oggenc", "oggenc", "no-such-ffmpeg", "oggenc"},
		{"ffmpeg fallback", "no-such-oggenc", "ffmpeg", "ffmpeg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testtool.Need(t, tc.tool)
			ctx := context.Background()
			c, _ := newCatalog()
			fsys := fstest.MapFS{"m.wav": {Data: wavFile}, "m.wav.json": {Data: sidecar}}
			req, err := LoadFiles(fsys, "m.wav")
			if err != nil {
				t.Fatal(err)
			}
			res, err := Ingest(ctx, c, testSigner, req, DefaultOptions().WithEncoders(tc.oggenc, tc.ffmpeg))
			if err != nil {
				t.Fatal(err)
			}
			tr := res.Tracks[0].Track
			if tr.Title != "Chord" || tr.TrackNumber != 2 || tr.Samples != n || tr.SampleRate != 44100 || len(tr.Rights) != 2 {
				t.Fatalf("track %+v", tr)
			}
			if tr.Loudness.IntegratedLUFS > -5 || tr.Loudness.IntegratedLUFS < -25 {
				t.Fatalf("loudness %+v", tr.Loudness)
			}
			for _, tier := range model.Tiers {
				m, hdr, chunks := stream(t, c, tr.ID, tier)
				want := expectedSamples(n, 44100, tierRate(tier, 44100))
				if d := m.TotalSamples - want; d < -1 || d > 1 || (tier != model.TierLow && d != 0) {
					t.Fatalf("tier %s: manifest says %d samples, want %d", tier, m.TotalSamples, want)
				}
				whole := hdr
				for ci, ch := range chunks {
					whole = append(whole, ch[m.Chunks[ci].PrimerSize:]...)
				}
				if got := oggdecSamples(t, whole, 2); got != m.TotalSamples {
					t.Fatalf("tier %s decodes to %d samples, manifest says %d", tier, got, m.TotalSamples)
				}
				if last := len(chunks) - 1; last > 0 {
					alone := append(append([]byte(nil), hdr...), chunks[last]...)
					if got := oggdecSamples(t, alone, 2); got != m.Chunks[last].Samples {
						t.Fatalf("tier %s last chunk alone decodes to %d, want %d", tier, got, m.Chunks[last].Samples)
					}
				}
			}
			if res.EncoderTime <= 0 {
				t.Fatal("no encoder time recorded")
			}
		})
	}
}

func TestIngestFLACTags(t *testing.T) {
	flacTool := testtool.Need(t, "flac")
	testtool.Need(t, "oggenc")
	dir := t.TempDir()
	// flac reads integer WAV only: make a 16-bit one with sox.
	sox := testtool.Need(t, "sox")
	wavPath := filepath.Join(dir, "in.wav")
	if b, err := exec.Command(sox, "-n", "-r", "48000", "-c", "1", "-b", "16", wavPath, "synth", "1.5", "sine", "440", "gain", "-6").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v %s", err, b)
	}
	args := []string{"-s", "-f", "-o", filepath.Join(dir, "song.flac"), "-T", "TITLE=Tagged", "-T", "ARTIST=Flac Band", "-T", "ALBUM=Lossless",
		"-T", "TRACKNUMBER=3/9", "-T", "DISCNUMBER=2", "-T", "ISRC=xx-000-00-00001", "-T", "DATE=2025-03-07T10:00:00Z", wavPath}
	if b, err := exec.Command(flacTool, args...).CombinedOutput(); err != nil {
		t.Fatalf("flac: %v %s", err, b)
	}
	c, _ := newCatalog()
	req, err := LoadFiles(os.DirFS(dir), "song.flac")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Ingest(context.Background(), c, testSigner, req, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Tracks[0].Track
	if tr.Title != "Tagged" || tr.TrackNumber != 3 || tr.DiscNumber != 2 || tr.ISRC != "XX0000000001" || tr.ReleaseDate != "2025-03-07" ||
		tr.Samples != 72000 || tr.Channels != 1 || tr.SampleRate != 48000 {
		t.Fatalf("track %+v", tr)
	}
	al, err := c.Album(context.Background(), tr.AlbumID)
	if err != nil || al.Title != "Lossless" || al.ArtistIDs[0] != catalog.ArtistIDFor("flac band") {
		t.Fatalf("album %+v (%v)", al, err)
	}
	// 48 kHz mono true peak of a −6 dBFS sine is ≈ −6 dBTP.
	if math.Abs(tr.Loudness.TruePeakDBTP+6) > 0.5 {
		t.Fatalf("true peak %v", tr.Loudness.TruePeakDBTP)
	}
}

// TestIngestFLACNumberTags: a TRACKNUMBER or DISCNUMBER tag that is not a
// number in the catalog's range is dropped with a warning naming the tag
// and the range, as a DATE or ISRC tag the catalog does not keep is (the
// track is then unnumbered, as without the tag): a tag is what a tagging
// tool wrote, not the uploader's statement. Before,
// TRACKNUMBER=99999999999999999999 failed the master with "bad metadata:
// track 9223372036854775807 disc 1".
func TestIngestFLACNumberTags(t *testing.T) {
	flacTool := testtool.Need(t, "flac")
	testtool.Need(t, "oggenc")
	sox := testtool.Need(t, "sox")
	dir := t.TempDir()
	wavPath := filepath.Join(dir, "in.wav")
	if b, err := exec.Command(sox, "-n", "-r", "8000", "-c", "1", "-b", "16", wavPath, "synth", "0.2", "sine", "440").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v %s", err, b)
	}
	for _, c := range []struct {
		tags        []string
		track, disc int
		warn        string
	}{
		{[]string{"TRACKNUMBER=99999999999999999999"}, 0, 1, "TRACKNUMBER 1..9999"},
		{[]string{"TRACKNUMBER=10000"}, 0, 1, "TRACKNUMBER 1..9999"},
		{[]string{"TRACKNUMBER=-3"}, 0, 1, "TRACKNUMBER 1..9999"},
		{[]string{"TRACKNUMBER=0/12"}, 0, 1, "TRACKNUMBER 1..9999"},
		{[]string{"TRACKNUMBER=three"}, 0, 1, "TRACKNUMBER 1..9999"},
		{[]string{"TRACKNUMBER=9999/9999", "DISCNUMBER=1000"}, 9999, 1, "DISCNUMBER 1..999"},
		{[]string{"TRACKNUMBER=7/12", "DISCNUMBER=2/2"}, 7, 2, ""},
	} {
		t.Run(strings.Join(c.tags, ","), func(t *testing.T) {
			args := []string{"-s", "-f", "-o", filepath.Join(dir, "song.flac"), "-T", "TITLE=T", "-T", "ARTIST=A", "-T", "ALBUM=B"}
			for _, tag := range c.tags {
				args = append(args, "-T", tag)
			}
			if b, err := exec.Command(flacTool, append(args, wavPath)...).CombinedOutput(); err != nil {
				t.Fatalf("flac: %v %s", err, b)
			}
			req, err := LoadFiles(os.DirFS(dir), "song.flac")
			if err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			opts := DefaultOptions().WithLogger(slog.New(slog.NewTextHandler(&log, nil)))
			cat, _ := newCatalog()
			res, err := Ingest(context.Background(), cat, testSigner, req, opts)
			if err != nil {
				t.Fatal(err)
			}
			tr := res.Tracks[0].Track
			if tr.TrackNumber != c.track || tr.DiscNumber != c.disc {
				t.Fatalf("track %d disc %d, want %d %d", tr.TrackNumber, tr.DiscNumber, c.track, c.disc)
			}
			got := log.String()
			if c.warn == "" && strings.Contains(got, "tag dropped") || c.warn != "" && !strings.Contains(got, "tag dropped") {
				t.Fatalf("log %q, want a warning %q", got, c.warn)
			}
			if tag, want, _ := strings.Cut(c.warn, " "); c.warn != "" && (!strings.Contains(got, "tag="+tag) || !strings.Contains(got, "want="+want)) {
				t.Fatalf("log %q does not name %s and %s", got, tag, want)
			}
		})
	}
}

// flacNoFrames returns a FLAC file of one STREAMINFO block (44.1 kHz
// stereo, bits per sample, total samples unknown) and no audio frames.
func flacNoFrames(bits uint64) []byte {
	b := []byte("fLaC\x80\x00\x00\x22")
	b = binary.BigEndian.AppendUint16(b, 4096) // min block size
	b = binary.BigEndian.AppendUint16(b, 4096) // max block size
	b = append(b, 0, 0, 0, 0, 0, 0)            // min, max frame size: unknown
	b = binary.BigEndian.AppendUint64(b, 44100<<44|1<<41|(bits-1)<<36)
	return append(b, make([]byte, 16)...) // MD5: unknown
}

// flipByte returns a copy of b with one bit of byte i flipped.
func flipByte(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x40
	return b
}

// badSetup returns stream with its setup header's first codebook sync
// pattern broken and the page's checksum made right again: a well-formed
// Ogg stream that no Vorbis decoder reads.
func badSetup(t *testing.T, stream []byte) []byte {
	t.Helper()
	var out []byte
	for rest, i := stream, 0; len(rest) > 0; i++ {
		p, n, err := ogg.ParsePage(rest)
		if err != nil {
			t.Fatal(err)
		}
		// "\x05vorbis", the codebook count, then the first codebook's "BCV".
		if k := bytes.Index(p.Body, []byte("\x05vorbis")); k >= 0 && string(p.Body[k+8:k+11]) == "BCV" {
			p.Body = bytes.Clone(p.Body)
			copy(p.Body[k+8:], "XYZ")
		}
		if out, err = ogg.AppendPage(out, &p); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if bytes.Equal(out, stream) {
		t.Fatal("no setup header found")
	}
	return out
}

func TestIngestRejects(t *testing.T) {
	good := sineWAV(t, 44100, 44100, 2)
	demoOgg, _ := demoalbum.FS.ReadFile("data/01.high.ogg")
	meta, _ := demoalbum.Album()
	crafted, err := os.ReadFile(filepath.Join("..", "..", "player", "vorbis", "testdata", "crafted.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	preSidecar := func(samples int64, file string) []byte {
		return fmt.Appendf(nil, `{"album":"A","album_artists":["X"],"tracks":[{"title":"T","artists":["X"],"sample_rate":44100,"channels":2,"samples":%d,"loudness":{"integrated_lufs":-14,"true_peak_dbtp":-1},"tiers":{"high":%q}}]}`, samples, file)
	}
	tests := []struct {
		name   string
		fsys   fstest.MapFS
		album  string // album.json name, else the files below
		files  []string
		opts   Options
		want   error
		naming string
	}{
		{"truncated wav", fstest.MapFS{"cut.wav": {Data: good[:len(good)/2]}}, "", []string{"cut.wav"}, DefaultOptions(), ErrTruncated, "cut.wav"},
		{"wrong extension", fstest.MapFS{"song.mp3": {Data: good}}, "", []string{"song.mp3"}, DefaultOptions(), ErrUnsupportedFormat, "song.mp3"},
		{"wav named flac", fstest.MapFS{"song.flac": {Data: good}}, "", []string{"song.flac"}, DefaultOptions(), ErrUnsupportedFormat, "song.flac"},
		{"not audio", fstest.MapFS{"x.wav": {Data: []byte("hello, this is text and not a wave file")}}, "", []string{"x.wav"}, DefaultOptions(), ErrUnsupportedFormat, "x.wav"},
		{"corrupt flac", fstest.MapFS{"x.flac": {Data: append([]byte("fLaC"), bytes.Repeat([]byte{0xff}, 100)...)}}, "", []string{"x.flac"}, DefaultOptions(), ErrCorrupt, "x.flac"},
		{"flac cut in its marker", fstest.MapFS{"x.flac": {Data: flacNoFrames(16)[:4]}}, "", []string{"x.flac"}, DefaultOptions(), ErrTruncated, "flac metadata ends early"},
		{"flac cut in STREAMINFO", fstest.MapFS{"x.flac": {Data: flacNoFrames(16)[:20]}}, "", []string{"x.flac"}, DefaultOptions(), ErrTruncated, "flac metadata ends early"},
		{"flac without audio", fstest.MapFS{"x.flac": {Data: flacNoFrames(16)}}, "", []string{"x.flac"}, DefaultOptions(), ErrCorrupt, "no audio"},
		{"32-bit flac", fstest.MapFS{"x.flac": {Data: flacNoFrames(32)}}, "", []string{"x.flac"}, DefaultOptions(), ErrUnsupportedFormat, "32-bit FLAC"},
		{"missing file", fstest.MapFS{}, "", []string{"gone.wav"}, DefaultOptions(), os.ErrNotExist, "gone.wav"},
		{"missing encoder", fstest.MapFS{"ok.wav": {Data: good}}, "", []string{"ok.wav"}, DefaultOptions().WithEncoders("no-such-oggenc", "no-such-ffmpeg"), ErrEncoderMissing, "ok.wav"},
		{"tier with wrong length", fstest.MapFS{"album.json": {Data: preSidecar(meta.Tracks[0].Samples+5, "t.ogg")}, "t.ogg": {Data: demoOgg}}, "album.json", nil, DefaultOptions(), ErrTierMismatch, "t.ogg"},
		{"truncated tier", fstest.MapFS{"album.json": {Data: preSidecar(meta.Tracks[0].Samples, "t.ogg")}, "t.ogg": {Data: demoOgg[:len(demoOgg)-3000]}}, "album.json", nil, DefaultOptions(), ErrTruncated, "t.ogg"},
		{"tier with a bad setup header", fstest.MapFS{"album.json": {Data: preSidecar(meta.Tracks[0].Samples, "t.ogg")}, "t.ogg": {Data: badSetup(t, demoOgg)}}, "album.json", nil, DefaultOptions(), ErrCorrupt, "t.ogg: ingest: corrupt input: does not decode"},
		{"sidecar samples not an integer", fstest.MapFS{"album.json": {Data: bytes.Replace(preSidecar(meta.Tracks[0].Samples, "t.ogg"), []byte(`"samples":`), []byte(`"samples":1e300,"x":`), 1)}, "t.ogg": {Data: demoOgg}}, "album.json", nil, DefaultOptions(), ErrBadMetadata,
			`field "tracks.samples" is a JSON number 1e300, want an integer from -9223372036854775808 to 9223372036854775807`},
		{"negative sidecar sample_rate", fstest.MapFS{"album.json": {Data: bytes.Replace(preSidecar(meta.Tracks[0].Samples, "t.ogg"), []byte(`"sample_rate":44100`), []byte(`"sample_rate":-44100`), 1)}, "t.ogg": {Data: demoOgg}}, "album.json", nil, DefaultOptions(), ErrBadMetadata, "sample_rate -44100: negative"},
		{"negative sidecar samples", fstest.MapFS{"album.json": {Data: preSidecar(-1, "t.ogg")}, "t.ogg": {Data: demoOgg}}, "album.json", nil, DefaultOptions(), ErrBadMetadata, "samples -1: negative"},
		{"negative sidecar channels", fstest.MapFS{"album.json": {Data: bytes.Replace(preSidecar(meta.Tracks[0].Samples, "t.ogg"), []byte(`"channels":2`), []byte(`"channels":-2`), 1)}, "t.ogg": {Data: demoOgg}}, "album.json", nil, DefaultOptions(), ErrBadMetadata, "channels -2: negative"},
		{"absurd sidecar loudness", fstest.MapFS{"album.json": {Data: bytes.Replace(preSidecar(meta.Tracks[0].Samples, "t.ogg"), []byte(`"integrated_lufs":-14`), []byte(`"integrated_lufs":500`), 1)}, "t.ogg": {Data: demoOgg}}, "album.json", nil, DefaultOptions(), ErrBadMetadata, "loudness 500 LUFS"},
		{"tier with a damaged page", fstest.MapFS{"album.json": {Data: preSidecar(meta.Tracks[0].Samples, "t.ogg")}, "t.ogg": {Data: flipByte(demoOgg, len(demoOgg)/2)}}, "album.json", nil, DefaultOptions(), ErrCorrupt, "t.ogg: ingest: corrupt input: segment: damaged Ogg page"},
		// player/vorbis/testdata/crafted.ogg is the crafted stream "floor 0 on
		// an LSP root" (8 kHz mono): libvorbis decodes it to NaN.
		{"crafted tier", fstest.MapFS{"album.json": {Data: []byte(`{"album":"A","album_artists":["X"],"tracks":[{"title":"T","artists":["X"],"sample_rate":8000,"channels":1,"samples":12800,"loudness":{"integrated_lufs":-14,"true_peak_dbtp":-1},"tiers":{"high":"t.ogg"}}]}`)}, "t.ogg": {Data: crafted}}, "album.json", nil, DefaultOptions(), ErrCorrupt, "t.ogg: ingest: corrupt input: 12672 samples decode to NaN or beyond ±16"},
		{"tier not ogg", fstest.MapFS{"album.json": {Data: preSidecar(meta.Tracks[0].Samples, "t.ogg")}, "t.ogg": {Data: good}}, "album.json", nil, DefaultOptions(), ErrUnsupportedFormat, "t.ogg"},
		{"bad rights", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"rights":[{"party":"A","role":"performer","share":0.5}]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "ok.wav"},
		{"sidecar album too long", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"album":"` + strings.Repeat("a", 1025) + `"}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "album of 1025 bytes: at most 1024"},
		{"sidecar title too long", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"title":"` + strings.Repeat("a", 1025) + `"}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "title of 1025 bytes: at most 1024"},
		{"sidecar artist too long", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["` + strings.Repeat("a", 1025) + `"]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "of 1025 bytes: at most 1024"},
		{"sidecar album artist blank", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"album_artists":[" "]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "artist name \" \" is blank"},
		{"sidecar track_number too large", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"track_number":10000}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "track_number 10000: want 1..9999"},
		{"sidecar disc_number negative", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"disc_number":-1}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "disc_number -1: want 1..999"},
		{"rights thirds short of 1", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"rights":[{"party":"A","role":"performer","share":0.333333333},{"party":"B","role":"songwriter","share":0.333333333},{"party":"C","role":"label","share":0.333333333}]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), model.ErrBadRights, "sum to 0.999999999"},
		{"rights unknown role", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"rights":[{"party":"A","role":"producer","share":1}]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "producer"},
		{"rights share not decimal", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"rights":[{"party":"A","role":"label","share":1e0}]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "share"},
		{"broken sidecar", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"title":`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "ok.wav"},
		{"bidi override in title", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"title":"evil\u202egnp.exe","artists":["X"]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), safetext.ErrBidi, "title"},
		{"bidi isolate in artist", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X\u2067Y"]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), safetext.ErrBidi, "U+2067"},
		{"control in album", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"album":"A\u001b[31m","artists":["X"]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), safetext.ErrControl, "album"},
		// release_date was stored as given: any text, of any length.
		{"release date not a date", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"release_date":"2026-02-30"}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, `release_date "2026-02-30"`},
		{"release date with control", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"release_date":"2026\u001b[31m"}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "release_date"},
		{"release date huge", fstest.MapFS{"album.json": {Data: bytes.Replace(preSidecar(meta.Tracks[0].Samples, "t.ogg"), []byte(`"album":"A"`), []byte(`"album":"A","release_date":"`+strings.Repeat("9", 100000)+`"`), 1)}, "t.ogg": {Data: demoOgg}}, "album.json", nil, DefaultOptions(), ErrBadMetadata, "release_date"},
		// album.json naming a file outside its directory: --data refused it
		// as "invalid argument", --relay uploaded it (an absolute name was
		// taken as relative).
		{"file outside the album", fstest.MapFS{"a/album.json": {Data: preSidecar(meta.Tracks[0].Samples, "../t.ogg")}, "t.ogg": {Data: demoOgg}}, "a/album.json", nil, DefaultOptions(), ErrBadMetadata, `"../t.ogg" is outside`},
		{"absolute file", fstest.MapFS{"album.json": {Data: preSidecar(meta.Tracks[0].Samples, "/t.ogg")}, "t.ogg": {Data: demoOgg}}, "album.json", nil, DefaultOptions(), ErrBadMetadata, `"/t.ogg" is outside`},
		// isrc was stored as given: any text, of any length, which the
		// metadata import (and its attachment of audio by ISRC) refuses.
		{"isrc with hyphens", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"isrc":"US-RC1-76-07839"}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, `isrc "US-RC1-76-07839"`},
		{"isrc lower case", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"isrc":"usrc17607839"}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "isrc"},
		{"isrc with bidi and control", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"isrc":"\u202eUSRC1760783\u0007"}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "isrc"},
		{"isrc huge", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"isrc":"` + strings.Repeat("9", 500000) + `"}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "isrc"},
		{"bidi in rights party", fstest.MapFS{"ok.wav": {Data: good}, "ok.wav.json": {Data: []byte(`{"artists":["X"],"rights":[{"party":"\u202dA","role":"performer","share":1}]}`)}}, "", []string{"ok.wav"}, DefaultOptions(), ErrBadMetadata, "rights party"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := newCatalog()
			var req Request
			var err error
			if tc.album != "" {
				req, err = LoadAlbum(tc.fsys, tc.album)
			} else {
				req, err = LoadFiles(tc.fsys, tc.files...)
			}
			if err == nil {
				for i := range req.Tracks {
					if len(req.Tracks[i].Artists) == 0 {
						req.Tracks[i].Artists = []string{"X"}
					}
				}
				_, err = Ingest(context.Background(), c, testSigner, req, tc.opts)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.naming) {
				t.Fatalf("error %q does not name %s", err, tc.naming)
			}
			if n, _ := c.GC(context.Background()); countKeys(t, s) != 0 {
				t.Fatalf("failed ingest left %d keys after removing %d orphans", countKeys(t, s), n)
			}
		})
	}
}

// failingStore fails every Update, like a commit failing on a full disk.
type failingStore struct{ store.Store }

func (f failingStore) Update(ctx context.Context, fn func(store.Txn) error) error {
	return errors.New("disk full")
}

func TestIngestAtomic(t *testing.T) {
	ctx := context.Background()
	req, err := LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("failing publish", func(t *testing.T) {
		s := store.NewMemory()
		bad := catalog.New(failingStore{s}, catalog.AtRestKey{})
		if _, err := Ingest(ctx, bad, testSigner, req, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("err = %v, want the publish failure", err)
		}
		c := catalog.New(s, catalog.AtRestKey{})
		if n := countKeys(t, s); n == 0 {
			t.Fatal("no blobs were written before publishing")
		}
		var visible int
		c.EachTrack(ctx, func(model.Track) error { visible++; return nil })
		if visible != 0 {
			t.Fatalf("%d tracks visible after a failed publish", visible)
		}
		if _, err := c.GC(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countKeys(t, s); n != 0 {
			t.Fatalf("%d keys left after GC", n)
		}
	})
	t.Run("one bad track", func(t *testing.T) {
		c, s := newCatalog()
		r := req
		r.Tracks = append(append([]TrackRequest(nil), req.Tracks...), req.Tracks[3])
		r.Tracks[4].MasterSHA256 = strings.Repeat("ab", 32)
		r.Tracks[4].Samples++ // the tier files no longer match
		_, err := Ingest(ctx, c, testSigner, r, DefaultOptions().WithParallel(1))
		if !errors.Is(err, ErrTierMismatch) {
			t.Fatalf("err = %v, want ErrTierMismatch", err)
		}
		if _, err := c.GC(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countKeys(t, s); n != 0 {
			t.Fatalf("%d keys left: a failed ingest published something", n)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		c, s := newCatalog()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Ingest(cctx, c, testSigner, req, DefaultOptions()); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		c.GC(ctx)
		if n := countKeys(t, s); n != 0 {
			t.Fatalf("%d keys left", n)
		}
	})
}

func TestExpectedSamples(t *testing.T) {
	tests := []struct {
		n        int64
		from, to int
		want     int64
	}{
		{617003, 44100, 16000, 223856},
		{100, 44100, 44100, 100},
		{96000, 96000, 48000, 48000},
	}
	for _, tc := range tests {
		if got := expectedSamples(tc.n, tc.from, tc.to); got != tc.want {
			t.Errorf("expectedSamples(%d, %d, %d) = %d, want %d", tc.n, tc.from, tc.to, got, tc.want)
		}
	}
}

// TestTagISRC: a FLAC ISRC tag gives the ISRC in the catalog's form, or
// none; it never fails the master as a sidecar's bad isrc does. Before,
// the tag was stored as it was, of any length and with any characters.
func TestTagISRC(t *testing.T) {
	for _, c := range []struct{ tag, want string }{
		{"USRC17607839", "USRC17607839"},
		{"US-RC1-76-07839", "USRC17607839"},
		{"us-rc1-76-07839", "USRC17607839"},
		{"USRC1760783", ""},
		{"USRC176078390", ""},
		{"US RC1 76 07839", ""},
		{"\u202eUSRC17607839", ""},
		{"USRC1760783\x00", ""},
		{strings.Repeat("9", 1<<20), ""},
		{"", ""},
	} {
		if got := tagISRC(c.tag); got != c.want {
			t.Errorf("tagISRC(%s) = %q, want %q", safetext.Quote(c.tag), got, c.want)
		}
	}
}

// TestTagReleaseDate: a FLAC DATE tag gives the release date it starts
// with, or none; it never fails the master as a sidecar's bad
// release_date does.
func TestTagReleaseDate(t *testing.T) {
	for _, c := range []struct{ tag, want string }{
		{"2025", "2025"},
		{"2025-03", "2025-03"},
		{"2025-03-07", "2025-03-07"},
		{"2019-05-03T00:00:00Z", "2019-05-03"},
		{"2019-05-03 12:00", "2019-05-03"},
		{"2019-05", "2019-05"},
		{"2019-5-3", "2019"},
		{"2026-02-30", "2026-02"},
		{"20190503", "2019"},
		{"05/03/2019", ""},
		{"unknown", ""},
		{"", ""},
		{"\x00\x01", ""},
	} {
		if got := tagReleaseDate(c.tag); got != c.want {
			t.Errorf("tagReleaseDate(%q) = %q, want %q", c.tag, got, c.want)
		}
	}
}
