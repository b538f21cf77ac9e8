package counting

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// TestValidateInvalidTrackNotCached checks that a track id no catalog can
// have (model.ValidID) is unknown_track without a catalog read or a track
// cache entry: the cache bounds entries, not bytes, and such ids can be
// 64 KiB each.
func TestValidateInvalidTrackNotCached(t *testing.T) {
	s := &Service{tracks: newTrackCache(nil)} // a catalog read would panic
	now := time.Now().UnixMilli()
	b := bounds{latest: now + 1000, oldest: now - 1000}
	for _, id := range []string{"", strings.Repeat("x", model.MaxIDLen+1), strings.Repeat("y", 65_535), "a/b", "a\x00b"} {
		e := api.PlayRecord{Seq: 1, Track: model.TrackID(id), Tier: model.TierLow, StartedAt: now, PlayedMs: 1000,
			EndReason: model.EndCompleted, Source: model.SourceStream}
		got, err := s.validate(context.Background(), e, b)
		if err != nil || got != api.PlayUnknownTrack {
			t.Errorf("track of %d bytes: %q, %v; want %s", len(id), got, err, api.PlayUnknownTrack)
		}
	}
	if n := s.tracks.cache.EstimatedSize(); n != 0 {
		t.Errorf("track cache holds %d entries, want 0", n)
	}
}
