package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/wasm/engine"
)

func TestStatusGate(t *testing.T) {
	buffering := player.Status{State: player.StateBuffering}
	playing := player.Status{State: player.StatePlaying}
	failed := player.Status{State: player.StateBuffering, Err: errors.New("stalled")}
	tests := []struct {
		name    string
		hold    bool
		sent    []player.Status // in the channel before Next
		release time.Duration   // Release this long after Next starts (the gate's Max an hour); 0: never (Max the default)
		want    player.Status
		minWait time.Duration // Next returns no sooner
		maxWait time.Duration // nor later (generous: a loaded machine)
	}{
		{name: "open gate passes buffering", sent: []player.Status{buffering}, want: buffering, maxWait: time.Second},
		{name: "open gate passes playing", sent: []player.Status{playing}, want: playing, maxWait: time.Second},
		{name: "held playing waits for Release", hold: true, sent: []player.Status{playing}, release: time.Millisecond,
			want: playing, minWait: time.Millisecond, maxWait: time.Minute},
		{name: "held gate passes an error", hold: true, sent: []player.Status{failed}, want: failed, maxWait: time.Second},
		{name: "held buffering waits for Release", hold: true, sent: []player.Status{buffering}, release: time.Millisecond,
			want: buffering, minWait: time.Millisecond, maxWait: time.Minute},
		{name: "held buffering passes after MaxStatusHold", hold: true, sent: []player.Status{buffering},
			want: buffering, minWait: engine.MaxStatusHold, maxWait: engine.MaxStatusHold + time.Second},
		{name: "a later status replaces a held one", hold: true, sent: []player.Status{buffering, playing}, release: time.Millisecond,
			want: playing, minWait: time.Millisecond, maxWait: time.Minute},
		{name: "an error replaces a held one at once", hold: true, sent: []player.Status{buffering, failed}, want: failed, maxWait: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g engine.StatusGate
			if tt.release > 0 {
				g.Max = time.Hour
			}
			if tt.hold {
				g.Hold()
			}
			sub := make(chan player.Status, len(tt.sent))
			for _, st := range tt.sent {
				sub <- st
			}
			t0 := time.Now()
			if tt.release > 0 {
				timer := time.AfterFunc(tt.release, g.Release)
				defer timer.Stop()
			}
			got, ok := g.Next(sub)
			took := time.Since(t0)
			if !ok || got.State != tt.want.State || (got.Err == nil) != (tt.want.Err == nil) {
				t.Fatalf("Next = %+v, %v; want %+v", got, ok, tt.want)
			}
			if took < tt.minWait || took > tt.maxWait {
				t.Errorf("Next took %v, want %v–%v", took, tt.minWait, tt.maxWait)
			}
		})
	}
}

func TestStatusGateClosedSubscription(t *testing.T) {
	var g engine.StatusGate
	g.Hold()
	sub := make(chan player.Status, 1)
	sub <- player.Status{State: player.StateBuffering}
	close(sub)
	if st, ok := g.Next(sub); !ok || st.State != player.StateBuffering {
		t.Fatalf("Next = %+v, %v; want the held buffering status", st, ok)
	}
	if _, ok := g.Next(sub); ok {
		t.Fatal("Next after the subscription closed = true, want false")
	}
}
