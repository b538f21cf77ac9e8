package core_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
)

// TestHistoryRefusesInvalidEvents: History.Append stored any event, a
// zero one included (no time, no track, no tier), which the relay then
// rejected at upload. An event no relay could count is refused now
// (ErrInvalidEvent) and nothing is stored; a valid one still is.
func TestHistoryRefusesInvalidEvents(t *testing.T) {
	ctx := t.Context()
	e, err := core.Open(ctx, t.TempDir(), core.DefaultOptions().WithOrigins("http://127.0.0.1:1").WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	valid := model.PlayEvent{EventID: "e1", TrackID: "t1", Tier: model.TierLow, Started: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Played: time.Minute, End: model.EndCompleted}
	for _, tc := range []struct {
		name string
		edit func(*model.PlayEvent)
		ok   bool
	}{
		{"valid", func(*model.PlayEvent) {}, true},
		{"valid with a source and a context", func(ev *model.PlayEvent) {
			ev.Source, ev.Context = model.SourceDownload, model.PlayContext{Kind: "album", ID: strings.Repeat("a", 256)}
		}, true},
		{"zero", func(ev *model.PlayEvent) { *ev = model.PlayEvent{} }, false},
		{"no track", func(ev *model.PlayEvent) { ev.TrackID = "" }, false},
		{"track with a slash", func(ev *model.PlayEvent) { ev.TrackID = "../t1" }, false},
		{"track too long", func(ev *model.PlayEvent) { ev.TrackID = model.TrackID(strings.Repeat("t", model.MaxIDLen+1)) }, false},
		{"no tier", func(ev *model.PlayEvent) { ev.Tier = "" }, false},
		{"unknown tier", func(ev *model.PlayEvent) { ev.Tier = "ultra" }, false},
		{"no end reason", func(ev *model.PlayEvent) { ev.End = "" }, false},
		{"unknown end reason", func(ev *model.PlayEvent) { ev.End = "exploded" }, false},
		{"unknown source", func(ev *model.PlayEvent) { ev.Source = "radio" }, false},
		{"context kind too long", func(ev *model.PlayEvent) { ev.Context.Kind = strings.Repeat("k", 65) }, false},
		{"context id too long", func(ev *model.PlayEvent) { ev.Context.ID = strings.Repeat("i", 257) }, false},
		{"no start time", func(ev *model.PlayEvent) { ev.Started = time.Time{} }, false},
		{"started at the epoch", func(ev *model.PlayEvent) { ev.Started = time.UnixMilli(0) }, false},
		{"started before 1970", func(ev *model.PlayEvent) { ev.Started = time.Date(1969, 7, 20, 0, 0, 0, 0, time.UTC) }, false},
		{"negative played", func(ev *model.PlayEvent) { ev.Played = -time.Second }, false},
		{"played a day", func(ev *model.PlayEvent) { ev.Played = 24 * time.Hour }, true},
		{"played past a day", func(ev *model.PlayEvent) { ev.Played = 24*time.Hour + time.Millisecond }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := e.History().List(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			ev := valid
			tc.edit(&ev)
			err = e.History().Append(ctx, ev)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, core.ErrInvalidEvent)) {
				t.Fatalf("Append: %v, want ok %v or ErrInvalidEvent", err, tc.ok)
			}
			after, err := e.History().List(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(before) + map[bool]int{true: 1}[tc.ok]; len(after) != want {
				t.Fatalf("%d events queued, want %d", len(after), want)
			}
		})
	}
}
