package player_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// bwSource opens memSource's tracks with chunk reads that take 5 ms and
// a manifest claiming a bit rate no network sustains, so every counted
// read is too slow for the tier.
type bwSource struct {
	*memSource
	network *bool // nil: a plain TrackSource; else a NetworkSource saying this
}

func (s bwSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	ts, err := s.memSource.OpenTrack(ctx, id, tier)
	if err != nil {
		return nil, err
	}
	t := ts.(*memTrack)
	m := *t.m
	m.Bitrate = 1 << 40
	slow := &slowTrack{memTrack: &memTrack{s: t.s, st: t.st, m: &m}}
	if s.network == nil {
		return slow, nil
	}
	return &netTrack{slowTrack: slow, network: *s.network}, nil
}

type slowTrack struct{ *memTrack }

func (t *slowTrack) Chunk(ctx context.Context, i int) ([]byte, error) {
	time.Sleep(5 * time.Millisecond)
	return t.memTrack.Chunk(ctx, i)
}

type netTrack struct {
	*slowTrack
	network bool
}

func (t *netTrack) ChunkFrom(ctx context.Context, i int) ([]byte, bool, error) {
	b, err := t.Chunk(ctx, i)
	return b, t.network, err
}

var _ player.NetworkSource = (*netTrack)(nil)

// TestTierWarningCountsNetworkReadsOnly: slow chunk reads raise
// ErrTierUnsustainable when they crossed the network (or the source
// cannot tell), never when the source says they were local (a download
// read from IndexedDB in the browser).
func TestTierWarningCountsNetworkReadsOnly(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name    string
		network *bool
		warn    bool
	}{
		{"plain source", nil, true},
		{"network reads", &yes, true},
		{"local reads", &no, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, ids := newMemSource(t)
			_, seen := playToWAV(t, bwSource{memSource: src, network: tc.network}, player.DefaultOptions(), albumItems(ids[:1]), nil)
			warned := false
			for _, st := range seen {
				warned = warned || errors.Is(st.Err, player.ErrTierUnsustainable)
			}
			if warned != tc.warn {
				t.Fatalf("tier warning %v, want %v", warned, tc.warn)
			}
		})
	}
}
