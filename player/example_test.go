package player_test

import (
	"fmt"
	"io"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

func ExampleMixer() {
	// Two tracks of one album join gaplessly: 3 + 2 frames, mono.
	m := player.NewMixer(1)
	m.Play(player.NewSliceStream([]float32{1, 2, 3}, 1))
	m.Enqueue(player.NewSliceStream([]float32{4, 5}, 1), 0)
	buf := make([]float32, 8)
	n, err := m.Read(buf)
	fmt.Println(buf[:n], err == io.EOF)
	// Output: [1 2 3 4 5] true
}

func ExampleQueue() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := player.NewQueue(player.QueueConfig{Rate: 44100, Tier: model.TierHigh})
	fx := q.Step(t0, player.PlayContext{Items: []player.Item{{Track: "a"}, {Track: "b"}}})
	load := fx[0].(player.Load)
	q.Step(t0, player.Advanced{Load: load.Load, Frames: 31 * 44100})
	for _, f := range q.Step(t0.Add(31*time.Second), player.Next{}) {
		if r, ok := f.(player.Record); ok {
			fmt.Println(r.Event.TrackID, r.Event.Played, r.Event.End, r.Event.IsStream)
		}
	}
	// Output: a 31s skipped true
}

func ExampleNormalisationGainDB() {
	master := model.Loudness{IntegratedLUFS: -9, TruePeakDBTP: 0.3}
	fmt.Printf("%.1f dB\n", player.NormalisationGainDB(master, model.Loudness{}, player.DefaultGainOptions()))
	// Output: -5.0 dB
}
