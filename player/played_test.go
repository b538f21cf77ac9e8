package player_test

import (
	"testing"
	"time"

	"github.com/segue-fm/segue/player"
)

// A play event's Played never exceeds the track's length, whatever the
// listener seeks: the relay refuses an event longer than the track × 1.05
// (played_exceeds_track), so a listener who went back to the start of a
// track 12 s in and heard it through lost the whole play. Played counts
// the frames heard, up to the track's length.
func TestPlayedAtMostTrackLength(t *testing.T) {
	src, ids := newMemSource(t)
	l1 := src.streams["t1/high"].TotalSamples
	l2 := src.streams["t2/high"].TotalSamples
	fade := int64(4 * 44100)
	items := []player.Item{{Track: ids[0], Album: "one"}, {Track: ids[1], Album: "two"}}
	dur := func(f int64) time.Duration { return time.Duration(f) * time.Second / 44100 }
	at := l1 - fade/2 // in the crossfade
	k := (at + 1023) / 1024 * 1024
	for _, tc := range []struct {
		name string
		ctl  func(p *player.Player)
		want time.Duration // t1's Played
	}{
		{"previous restarts it", func(p *player.Player) { p.Previous() }, dur(l1)},
		{"seek to its start", func(p *player.Player) { p.SeekFrame(0) }, dur(l1)},
		{"seek back 3 s", func(p *player.Player) { p.SeekFrame(l1 - fade/2 - 3*44100) }, dur(l1)},
		{"seek forward", func(p *player.Player) { p.SeekFrame(l1 - 1000) }, dur(k + 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, evs := playHooked(t, src, items, at, tc.ctl, 0)
			got := map[string][]time.Duration{}
			for _, ev := range evs {
				got[string(ev.TrackID)] = append(got[string(ev.TrackID)], ev.Played)
			}
			if p := got["t1"]; len(p) != 1 || p[0] != tc.want {
				t.Errorf("t1 played %v, want [%v] (the track lasts %v)", p, tc.want, dur(l1))
			}
			if p := got["t2"]; len(p) != 1 || p[0] != dur(l2) {
				t.Errorf("t2 played %v, want [%v]", p, dur(l2))
			}
		})
	}
}
