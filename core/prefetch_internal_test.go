package core

import (
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// TestHeadCache: a head is returned for its manifest's blobs and its key
// until it expires, never for other blobs or another key; the cache holds
// maxHeads, dropping the entry that expires first; clear drops all.
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
	var c headCache
	m0 := man(0)
	c.put(keyID(m0.TrackID, m0.Tier), entry(m0, key), now, ttl)
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
		if got := c.get(tc.m, tc.key, tc.at) != nil; got != tc.want {
			t.Errorf("%s: head found %t, want %t", tc.name, got, tc.want)
		}
	}
	for i := 1; i <= maxHeads; i++ {
		m := man(i)
		c.put(keyID(m.TrackID, m.Tier), entry(m, key), now.Add(time.Duration(i)*time.Second), ttl)
	}
	if len(c.entries) != maxHeads {
		t.Fatalf("%d heads held, want %d", len(c.entries), maxHeads)
	}
	if c.get(m0, key, now) != nil {
		t.Fatal("the head expiring first was kept over the bound")
	}
	if c.get(man(maxHeads), key, now) == nil {
		t.Fatal("the newest head was dropped")
	}
	c.clear()
	if len(c.entries) != 0 {
		t.Fatal("clear kept heads")
	}
}
