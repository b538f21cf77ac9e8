package reconcile_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/reconcile"
)

// oneTrack is a catalog of one track, "t1", in one tier: four chunks of
// 15 s and 1,000 bytes each.
type oneTrack struct{}

func (oneTrack) Chunks(_ context.Context, track model.TrackID, tier model.Tier) ([]reconcile.Chunk, error) {
	if track != "t1" || tier != model.TierNormal {
		return nil, reconcile.ErrUnknownStream
	}
	cs := make([]reconcile.Chunk, 4)
	for i := range cs {
		cs[i] = reconcile.Chunk{StartMs: int64(i) * 15_000, EndMs: int64(i+1) * 15_000, Size: 1000, Blob: [32]byte{byte(i + 1)}}
	}
	return cs, nil
}

func (oneTrack) BlobStreams(context.Context, [32]byte) ([]catalog.StreamRef, error) { return nil, nil }

// records is an access.Reader over records in memory.
type records []access.Record

func (rs records) Scan(_ context.Context, from, to time.Time, fn func(access.Record) error) error {
	for _, r := range rs {
		if r.Time >= from.UnixMilli() && r.Time < to.UnixMilli() {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// A day with three counted streams: d1's is backed by two whole chunks
// served (30 s of audio), d2 was served one chunk only, and d3 played
// offline without a license. d4 was served the whole track and no stream
// of it was counted.
func ExampleRun() {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	at := func(h int) int64 { return day.Add(time.Duration(h) * time.Hour).UnixMilli() }
	streams := []reconcile.Stream{
		{Device: "d1", User: "ana", Track: "t1", Tier: model.TierNormal, Started: at(9), Played: 45_000},
		{Device: "d2", User: "bob", Track: "t1", Tier: model.TierNormal, Started: at(10), Played: 40_000, Offset: 1},
		{Device: "d3", User: "cy", Track: "t1", Tier: model.TierNormal, Started: at(11), Played: 60_000, Offline: true, Offset: 2},
	}
	source := func(_ context.Context, from, to time.Time, fn func(reconcile.Stream) error) error {
		for _, s := range streams {
			if s.Started >= from.UnixMilli() && s.Started < to.UnixMilli() {
				if err := fn(s); err != nil {
					return err
				}
			}
		}
		return nil
	}
	served := records{
		{Kind: access.KindChunk, Time: at(9), Device: "d1", Track: "t1", Tier: model.TierNormal, First: 0, Last: 1, Bytes: 2000},
		{Kind: access.KindChunk, Time: at(10), Device: "d2", Track: "t1", Tier: model.TierNormal, First: 0, Last: 0, Bytes: 1000},
		{Kind: access.KindChunk, Time: at(12), Device: "d4", Track: "t1", Tier: model.TierNormal, First: 0, Last: 3, Bytes: 4000},
	}
	rep, err := reconcile.Run(context.Background(), day, source, served, oneTrack{}, reconcile.DefaultOptions())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d streams, %d online, %d offline, %d backed\n", rep.Day, rep.Streams, rep.Online, rep.Offline, rep.Backed)
	for _, u := range rep.Unbacked {
		fmt.Printf("unbacked %s: %s\n", u.Device, u.Reason)
	}
	for _, u := range rep.Uncounted {
		fmt.Printf("uncounted %s %s: %d ms served\n", u.Device, u.Track, u.CoveredMs)
	}
	// Output:
	// 2026-11-20: 3 streams, 2 online, 1 offline, 1 backed
	// unbacked d2: chunks served to the device cover 15.0 s of the track, 30s needed
	// unbacked d3: no offline license of this device for the track at that time
	// uncounted d4 t1: 60000 ms served
}
