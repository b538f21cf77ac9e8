package docs

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/internal/safetext"
)

// Errors returned by the document views.
var (
	// ErrWrongType is returned when a document is not of the kind a view
	// expects (or has no type yet because it has not synced).
	ErrWrongType = errors.New("docs: wrong document type")
	// ErrNotEmpty is returned when creating a document in a doc that
	// already has changes.
	ErrNotEmpty = errors.New("docs: document is not empty")
	// ErrNoEntry is returned when an entry id names no playlist entry.
	ErrNoEntry = errors.New("docs: no such entry")
	// ErrBadPosition is returned for a position outside the playlist.
	ErrBadPosition = errors.New("docs: bad position")
	// ErrInvalidArgument is returned for an empty id or name where one is
	// required.
	ErrInvalidArgument = errors.New("docs: invalid argument")
	// ErrBadText is returned for a playlist name or description that is
	// not valid UTF-8, is longer than its limit (MaxNameBytes,
	// MaxDescriptionBytes) or holds a control or bidirectional
	// formatting character (internal/safetext).
	ErrBadText = errors.New("docs: bad text")
	// ErrPlaylistFull is returned by Playlist.Add when the entries would
	// pass MaxEntries.
	ErrPlaylistFull = errors.New("docs: playlist full")
)

// Limits on the text the playlist setters write (CreatePlaylist, Rename,
// Describe). Documents written elsewhere are read as they are.
const (
	// MaxNameBytes bounds a playlist name, in bytes of UTF-8.
	MaxNameBytes = 256
	// MaxDescriptionBytes bounds a playlist description, in bytes.
	MaxDescriptionBytes = 4096
)

// CheckName returns nil when name may be a playlist's name (Rename,
// CreatePlaylist), else an error wrapping ErrBadText that says why.
func CheckName(name string) error { return checkText("name", name, MaxNameBytes) }

// CheckDescription returns nil when description may be a playlist's
// description (Describe), else an error wrapping ErrBadText.
func CheckDescription(description string) error {
	return checkText("description", description, MaxDescriptionBytes)
}

// checkText returns nil when s may be written as a playlist's what (name
// or description): valid UTF-8, at most max bytes, and printable as
// safetext.Check defines it.
func checkText(what, s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadText, what)
	case len(s) > max:
		return fmt.Errorf("%w: %s of %d bytes, at most %d", ErrBadText, what, len(s), max)
	}
	if err := safetext.Check(s); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadText, what, err)
	}
	return nil
}

// Kind is the value of a document's root "type" field.
type Kind string

// The document kinds of DESIGN §5.
const (
	KindPlaylist Kind = "playlist"
	KindLibrary  Kind = "library"
)

// Options configure the typed views. The zero value is not usable; start
// from DefaultOptions.
type Options struct {
	now  func() time.Time
	rand io.Reader
}

// DefaultOptions returns options using the wall clock (time.Now) for
// commit and entry timestamps and crypto/rand.Reader for entry ids and
// position jitter.
func DefaultOptions() Options {
	return Options{now: time.Now, rand: crand.Reader}
}

// WithClock returns o with now as the clock for commit timestamps,
// addedAt and savedAt values. Default: time.Now.
func (o Options) WithClock(now func() time.Time) Options {
	o.now = now
	return o
}

// WithRand returns o reading entry ids and position jitter from r; r must
// be safe for use by the goroutine that calls the view's methods.
// Default: crypto/rand.Reader. Simulations pass a seeded reader.
func (o Options) WithRand(r io.Reader) Options {
	o.rand = r
	return o
}

// KindOf returns the kind of doc from its root "type" field. A document
// that has not received its first change yet returns ErrWrongType.
func KindOf(doc *automerge.Doc) (Kind, error) {
	v, err := doc.Path("type").Get()
	if err != nil {
		return "", fmt.Errorf("read type: %w", err)
	}
	s, ok := valueString(v)
	if !ok {
		return "", fmt.Errorf("%w: type is %v", ErrWrongType, v.Kind())
	}
	return Kind(s), nil
}

func checkKind(doc *automerge.Doc, want Kind) error {
	k, err := KindOf(doc)
	if err != nil {
		return err
	}
	if k != want {
		return fmt.Errorf("%w: %q, want %q", ErrWrongType, k, want)
	}
	return nil
}

// Bounds on one change of a bulk edit (Playlist.Add and Remove, the
// library's sets, Library.Import): a bigger edit commits several
// changes, so that no change comes near a 1 MiB sync frame, which must
// carry a change with the message's heads and Bloom filter (one change
// of 10,000 added entries is ≈ 950 KB).
const (
	// MaxEntriesPerChange bounds the entries or set members one change
	// writes (an entry added costs ≈ 95 bytes of change: 5,000 ≈ 470 KB,
	// under wire.MaxSyncChange). Fewer, smaller changes cost bytes: with
	// 1,000 a 10,000-entry playlist's first sync grew from 97 to 112 KB.
	MaxEntriesPerChange = 5000
	// MaxEntries bounds the entries (keys of the entries map, malformed
	// ones too) of one playlist: Playlist.Add refuses to pass it
	// (ErrPlaylistFull), and the relay refuses changes that would
	// (EntryCount.CheckEntries). A playlist of MaxEntries entries is
	// ≈ 10 MB of change history, well under the relay's document cap.
	MaxEntries = 100_000
	// maxChangeText bounds the string bytes (ids, track ids, positions,
	// users) one change writes, counting 64 more per entry for its keys
	// and values besides.
	maxChangeText = 640 << 10
	// entryOverhead is what maxChangeText counts for an entry besides
	// its strings.
	entryOverhead = 64
)

// batch counts the entries and string bytes of the change a bulk edit
// is building.
type batch struct{ n, text int }

// full reports whether an entry of size string bytes must start a new
// change: the current one has MaxEntriesPerChange entries, or would
// pass maxChangeText with it. An empty change always takes it.
func (b *batch) full(size int) bool {
	return b.n > 0 && (b.n >= MaxEntriesPerChange || b.text+size+entryOverhead > maxChangeText)
}

// add counts an entry of size string bytes.
func (b *batch) add(size int) {
	b.n++
	b.text += size + entryOverhead
}

func commit(doc *automerge.Doc, now time.Time, msg string) error {
	if _, err := doc.Commit(msg, automerge.CommitOptions{Time: &now}); err != nil {
		return fmt.Errorf("commit %q: %w", msg, err)
	}
	return nil
}

func strField(m *automerge.Map, key string) string {
	v, err := m.Get(key)
	if err != nil {
		return ""
	}
	s, _ := valueString(v)
	return s
}

// valueString reads a string field written either as a scalar string
// (Segue, automerge-go) or as collaborative text (Automerge 3 JS writes
// plain strings that way unless they are ImmutableString).
func valueString(v *automerge.Value) (string, bool) {
	switch v.Kind() {
	case automerge.KindStr:
		return v.Str(), true
	case automerge.KindText:
		s, err := v.Text().Get()
		return s, err == nil
	default:
		return "", false
	}
}

// strValue is valueString for a possibly missing (nil) map value.
func strValue(v *automerge.Value) string {
	if v == nil {
		return ""
	}
	s, _ := valueString(v)
	return s
}

// randomID returns 16 lowercase hex digits read from r.
func randomID(r io.Reader) (string, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("docs: read random id: %w", err)
	}
	const hexdig = "0123456789abcdef"
	out := make([]byte, 16)
	for i, c := range b {
		out[2*i] = hexdig[c>>4]
		out[2*i+1] = hexdig[c&15]
	}
	return string(out), nil
}
