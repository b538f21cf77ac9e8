package core

import (
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/ttlmap"
)

// TestHeadCache: a head is returned for its manifest's blobs and its key
// until it expires, never for other blobs or another key; the cache holds
// maxHeads, dropping the entry that expires first; Clear drops all.
func TestHeadCache(t *testing.T) {
	now := time.Unix(1000, 0)
	const ttl = time.Minute
	man := func(i int) *model.Manifest {
		m := &model.Manifest{TrackID: model.TrackID(string(rune('a' + i))), Tier: model.TierHigh,
			Chunks: []model.Chunk{{Blob: model.BlobRef{SHA256: [32]byte{byte(i), 1}}}}}
		m.Header.SHA256 = [32]byte{byte(i), 2}
		return m
	}
	entry := func(m *model.Manifest, key crypto.ContentKey) headEntry {
		return headEntry{header: m.Header.SHA256, chunk0: m.Chunks[0].Blob.SHA256, key: key, pcm: []float32{1, 2}}
	}
	key := crypto.ContentKey{7}
	at := now
	e := &Engine{heads: ttlmap.New[string, headEntry](maxHeads, ttl, func() time.Time { return at })}
	m0 := man(0)
	e.heads.Put(keyID(m0.TrackID, m0.Tier), entry(m0, key))
	other := *m0
	other.Chunks = []model.Chunk{{Blob: model.BlobRef{SHA256: [32]byte{9}}}}
	otherHeader := *m0
	otherHeader.Header.SHA256 = [32]byte{9}
	for _, tc := range []struct {
		name string
		m    *model.Manifest
		key  crypto.ContentKey
		at   time.Time
		want bool
	}{
		{"fresh", m0, key, now, true},
		{"just before expiry", m0, key, now.Add(ttl - time.Nanosecond), true},
		{"expired", m0, key, now.Add(ttl), false},
		{"another key", m0, crypto.ContentKey{8}, now, false},
		{"another chunk 0", &other, key, now, false},
		{"another header", &otherHeader, key, now, false},
		{"another track", man(1), key, now, false},
	} {
		at = tc.at
		if got := e.headOf(tc.m, tc.key) != nil; got != tc.want {
			t.Errorf("%s: head found %t, want %t", tc.name, got, tc.want)
		}
	}
	for i := 1; i <= maxHeads; i++ {
		m := man(i)
		at = now.Add(time.Duration(i) * time.Second)
		e.heads.Put(keyID(m.TrackID, m.Tier), entry(m, key))
	}
	if e.heads.Len() != maxHeads {
		t.Fatalf("%d heads held, want %d", e.heads.Len(), maxHeads)
	}
	at = now
	if e.headOf(m0, key) != nil {
		t.Fatal("the head expiring first was kept over the bound")
	}
	if e.headOf(man(maxHeads), key) == nil {
		t.Fatal("the newest head was dropped")
	}
	e.heads.Clear()
	if e.heads.Len() != 0 {
		t.Fatal("clear kept heads")
	}
}
