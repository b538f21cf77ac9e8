// Package player is Segue's playback core: the pure DSP and control pieces
// of the pipeline
//
//	source → decode → Resampler → gain (Fader) → Mixer → Sink
//
// and the Queue state machine that drives them.
//
//   - Resampler: streaming polyphase Kaiser-windowed sinc (≥ 80 dB), exact
//     output accounting, bit-identical output for any split of the input,
//     continuous across tracks that share a rate.
//   - NormalisationGainDB and Fader: loudness gain to TargetLUFS (track or
//     album), true-peak limited to PeakCeilingDBTP, with click-free ramps.
//   - Mixer: sample-exact gapless concatenation, or an equal-power
//     crossfade per transition.
//   - Sink (with DiscardSink and WAVSink) is where audio leaves the player;
//     Source/TrackSource is what the engine implements to feed it.
//   - Queue: contexts, next/previous, seek, repeat, smart shuffle (package
//     player/shuffle), tier from the next track, preload at 75 %, bandwidth
//     warnings and play events with the exact played duration.
//
// The Queue is driven etcd-raft style: feed it events with the current
// time, carry out the effects it returns.
//
//	q := player.NewQueue(player.QueueConfig{Rate: 44100, Tier: model.TierHigh})
//	for _, fx := range q.Step(clock.Now(), player.PlayContext{Items: items}) {
//		switch fx := fx.(type) {
//		case player.Load:    // open fx.Track at fx.Tier, report Ready/Advanced/Ended
//		case player.Record:  // append fx.Event to the history queue
//		case player.Publish: // send fx.Status to subscribers
//		}
//	}
//
// Everything here is pure and allocation-conscious; goroutines, network and
// devices live in the engine that wires these pieces together.
package player
