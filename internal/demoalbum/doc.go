// Package demoalbum is Segue's demo album: a deterministic pure-Go
// synthesiser of a continuous ≈60 s instrumental piece, cut into four
// tracks at sample positions that fall on no codec frame boundary, and the
// committed Ogg Vorbis fixtures of those tracks in all four tiers.
//
// The fixtures are regenerated with
//
//	go run ./internal/demoalbum/gen
//
// and embedded in FS with their album.json (the ingest sidecar format), so
// `segue demo` ingests the album with no encoder installed:
//
//	meta, err := demoalbum.Album()
//	if err != nil {
//		return err
//	}
//	for _, t := range meta.Tracks {
//		fmt.Println(t.Title, t.Samples, t.Tiers[model.TierHigh])
//	}
//
// Because the tracks are cut from one continuous piece, playing them in
// order must equal the piece: any gap or overlap at a cut is audible and
// measurable (CutOffset records where each track starts in the piece).
// The low tier (16 kHz) is cut, like ingest does, from the piece resampled
// once, at each track's span (model.ResampledSpan); no cut falls on a
// 16 kHz sample, so every track but the first starts between two.
package demoalbum
