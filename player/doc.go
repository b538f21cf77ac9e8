// Package player is Segue's playback engine: a Player that plays contexts
// of tracks (albums, playlists) from a Source into a Sink through the
// pipeline
//
//	Source.OpenTrack → decoder goroutine (fetch with retries, Ogg demux,
//	Vorbis decode, pre-decode ahead) → Resampler chain → loudness gain →
//	Mixer (gapless or crossfade) → effects (Options.WithEffects) →
//	volume Fader → Sink.Write
//
// driven by the pure Queue state machine.
//
// Usage (the engine, package core, provides the Source: cache or relay,
// verified and decrypted in memory; see Engine.OpenPlayer):
//
//	p, err := player.New(src, sink, player.DefaultOptions().WithTier(model.TierHigh))
//	defer p.Close()                        // before closing sink
//	updates, stop := p.Subscribe()         // state, position, errors
//	p.Play(model.PlayContext{Kind: "album", ID: id}, items, 0) // then Next, Seek, Pause…
//
// Pieces:
//
//   - Player: one goroutine carrying out the Queue's effects, one decoder
//     goroutine per open track; the next track is opened and pre-decoded
//     from 75 % of the current one and joined at the sample (consecutive
//     tracks of one rate share one continuous resampler).
//   - Resampler: streaming polyphase Kaiser-windowed sinc (≥ 80 dB), exact
//     output accounting, bit-identical output for any split of the input.
//   - NormalisationGainDB and Fader: loudness gain to TargetLUFS, per track
//     or per album (Item.AlbumLoudness, GainAlbum), limited by the track's
//     true peak to PeakCeilingDBTP; click-free volume ramps.
//   - Mixer: sample-exact gapless concatenation, or an equal-power
//     crossfade between tracks of different albums.
//   - AudioEffect: optional in-place effects on the output stream, such
//     as WebAssembly plugins (package player/plugin); one that fails is
//     removed (ErrEffectRemoved) and playback goes on unprocessed.
//   - Sink: where audio leaves the player. Built-ins: DiscardSink,
//     WAVSink, and the ALSA device sink in package player/alsa (build tag
//     alsa). Write blocking is what paces playback.
//   - Queue: contexts, next/previous, seek, repeat, smart shuffle (package
//     player/shuffle), tier from the next track, bandwidth warnings and
//     play events with the exact played duration (History).
//
// The Queue is pure and driven etcd-raft style: feed it events with the
// current time, carry out the effects it returns.
//
//	q := player.NewQueue(player.QueueConfig{Rate: 44100, Tier: model.TierHigh})
//	for _, fx := range q.Step(clock.Now(), player.PlayContext{Items: items}) {
//		switch fx := fx.(type) {
//		case player.Load:    // open fx.Track at fx.Tier, report Ready/Advanced/Ended
//		case player.Record:  // append fx.Event to the history queue
//		case player.Publish: // send fx.Status to subscribers
//		}
//	}
package player
