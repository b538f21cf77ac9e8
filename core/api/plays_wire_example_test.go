package api_test

import (
	"fmt"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// ExampleWireOf converts a play to the compact upload form and back: the
// three booleans travel as flag bits.
func ExampleWireOf() {
	e := api.PlayRecord{Seq: 7, Track: "tr1", Tier: model.TierLow, StartedAt: 1_700_000_000_000, PlayedMs: 31_000,
		EndReason: model.EndCompleted, Source: model.SourceDownload, Offline: true, TrustedTime: true}
	w := api.WireOf(e)
	back, ok := w.Record()
	fmt.Println(w.Flags, ok, back == e)
	// Output: 5 true true
}
