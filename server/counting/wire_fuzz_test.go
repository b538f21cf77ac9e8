package counting

import (
	"reflect"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/cborx"
)

// FuzzPlaysWire feeds arbitrary bytes to the compact upload decoder: it
// never panics, and whatever it accepts re-encodes to a value that
// decodes to the same request.
func FuzzPlaysWire(f *testing.F) {
	seed, err := cborx.Marshal(api.PlaysRequestWire{Sig: make([]byte, 64), Events: []api.PlayWire{
		api.WireOf(api.PlayRecord{Seq: 7, Track: "t1", Tier: "low", StartedAt: 1, PlayedMs: 31000, EndReason: "completed", Source: "stream", Offline: true})}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{0x82, 0x40, 0x80})
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var w api.PlaysRequestWire
		if wireDec.Unmarshal(b, &w) != nil {
			return
		}
		for _, e := range w.Events {
			r, ok := e.Record()
			if ok && !reflect.DeepEqual(api.WireOf(r), e) {
				t.Fatalf("round trip: %+v → %+v", e, api.WireOf(r))
			}
		}
		again, err := cborx.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		var w2 api.PlaysRequestWire
		if err := wireDec.Unmarshal(again, &w2); err != nil || !reflect.DeepEqual(w, w2) {
			t.Fatalf("re-encoded %x: %v", again, err)
		}
	})
}
