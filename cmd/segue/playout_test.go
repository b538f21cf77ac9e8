package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/segue-fm/segue/player"
)

// TestPlayProgressWarnings: a warning the player publishes while playback
// goes on is printed as a warning, not counted as a skipped track. Before,
// only the tier and effect warnings were known: `segue play --crossfade 12s`
// of a playlist of short tracks printed "track 2/4 skipped: player:
// crossfade shortened …" and "3 of 4 tracks skipped" with every track
// played.
func TestPlayProgressWarnings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		skipped bool
	}{
		{"crossfade shortened", fmt.Errorf("%w to 1s of 12s: the outgoing track lasts 1s", player.ErrCrossfadeShortened), false},
		{"tier unsustainable", player.ErrTierUnsustainable, false},
		{"effect removed", fmt.Errorf("%w: eq.wasm: timeout", player.ErrEffectRemoved), false},
		{"not removable", player.ErrNotRemovable, false},
		{"unplayable", fmt.Errorf("%w: 404", player.ErrUnplayable), true},
		{"length", player.ErrLength, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := make(chan player.Status, 3)
			sub <- player.Status{State: player.StatePlaying}
			sub <- player.Status{State: player.StatePlaying, Index: 1, Err: tc.err}
			sub <- player.Status{State: player.StateEnded}
			var out bytes.Buffer
			pr := &playProgress{w: &out, rate: 44100, n: 2}
			skipped, err := pr.run(t.Context(), sub)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(skipped) == 1; got != tc.skipped || len(skipped) > 1 {
				t.Fatalf("skipped %v, want skipped %v", skipped, tc.skipped)
			}
			if said := strings.Contains(out.String(), "track 2/2 skipped: "); said != tc.skipped {
				t.Fatalf("output %q: says skipped %v, want %v", out.String(), said, tc.skipped)
			}
			if !strings.Contains(out.String(), "warning: ") || !strings.Contains(out.String(), tc.err.Error()) {
				t.Fatalf("output %q does not show the warning %v", out.String(), tc.err)
			}
		})
	}
}
