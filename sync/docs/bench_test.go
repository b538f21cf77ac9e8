package docs

import (
	"fmt"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

// BenchmarkEntries10k reads the ordered entries of a 10,000-entry playlist.
func BenchmarkEntries10k(b *testing.B) {
	p := newPlaylistB(b, 10000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Entries(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMove10k moves one entry of a 10,000-entry playlist (one commit).
func BenchmarkMove10k(b *testing.B) {
	p := newPlaylistB(b, 10000)
	es, _ := p.Entries()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Move(es[i%len(es)].ID, AtIndex((i*7919)%len(es))); err != nil {
			b.Fatal(err)
		}
	}
}

func newPlaylistB(b *testing.B, n int) *Playlist {
	p, err := CreatePlaylist(newDoc(), "alice", "Big", testOpts(1))
	if err != nil {
		b.Fatal(err)
	}
	tr := make([]model.TrackID, n)
	for i := range tr {
		tr[i] = model.TrackID(fmt.Sprintf("trk%06d", i))
	}
	if _, err := p.Add(AtEnd(), "alice", tr...); err != nil {
		b.Fatal(err)
	}
	return p
}
