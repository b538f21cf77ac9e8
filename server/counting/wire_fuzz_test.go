package counting

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
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

// wireSeeds are uploads in the forms the fast decoder must take: the core
// deterministic encoding of requests with zero, one and many events,
// every field set, negative and wide integers.
func wireSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, n := range []int{0, 1, 3, 300} {
		w := api.PlaysRequestWire{Sig: make([]byte, 64), Events: make([]api.PlayWire, n)}
		for i := range w.Events {
			w.Events[i] = api.PlayWire{Seq: uint64(i) << (i % 64), Track: "trk-ü", Tier: "high", CtxKind: "playlist", CtxID: "p1",
				StartedAt: int64(i)*1_800_000_000 - 5, PlayedMs: -int64(i), EndReason: "skipped", Source: "download", Flags: uint8(i % 8)}
		}
		b, err := cborx.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestWireFastTakesCommonForm: the fast decoder accepts what clients send
// (so it is the path uploads take) and gives wireDec's value.
func TestWireFastTakesCommonForm(t *testing.T) {
	for i, b := range wireSeeds(t) {
		got, ok := decodeWireFast(b)
		var want api.PlaysRequestWire
		if err := wireDec.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: fast %v %+v, want %+v", i, ok, got, want)
		}
	}
}

// FuzzWireFastMatches: on any bytes the fast decoder never panics, and
// whatever it accepts wireDec accepts too, with the same value.
func FuzzWireFastMatches(f *testing.F) {
	for _, b := range wireSeeds(f) {
		f.Add(b)
	}
	f.Add([]byte{0x82, 0x40, 0x80})
	f.Add([]byte{0x82, 0x41, 0x00, 0x81, 0x8a, 0x00, 0x60, 0x60, 0x60, 0x60, 0x20, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x60, 0x60, 0x18, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeWireFast(b)
		if !ok {
			return
		}
		var want api.PlaysRequestWire
		if err := wireDec.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast decoder took %x, wireDec refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%x: fast %+v, wireDec %+v", b, got, want)
		}
	})
}

// TestWireFastMutations checks FuzzWireFastMatches's property on 100,000
// seeded random mutations of the seeds (bytes changed, inserted, deleted,
// the end cut), so it holds in every test run, not only when fuzzing.
func TestWireFastMutations(t *testing.T) {
	seeds := wireSeeds(t)[:3]
	rng := rand.New(rand.NewPCG(5, 6))
	taken := 0
	for range 100_000 {
		b := bytes.Clone(seeds[rng.IntN(len(seeds))])
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(b))
			switch rng.IntN(4) {
			case 0:
				b[i] = byte(rng.Uint32())
			case 1:
				b = slices.Insert(b, i, byte(rng.Uint32()))
			case 2:
				b = slices.Delete(b, i, i+1)
			default:
				b = b[:i]
			}
			if len(b) == 0 {
				b = []byte{0}
			}
		}
		got, ok := decodeWireFast(b)
		if !ok {
			continue
		}
		taken++
		var want api.PlaysRequestWire
		if err := wireDec.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast decoder took %x, wireDec refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%x: fast %+v, wireDec %+v", b, got, want)
		}
	}
	if taken < 1000 {
		t.Fatalf("the fast decoder took only %d mutations", taken)
	}
}

// TestAnswerWireMatchesMarshal: the hand-written answer encoding is byte
// for byte cborx.Marshal's, at every integer width and for 0 to 300
// results.
func TestAnswerWireMatchesMarshal(t *testing.T) {
	seqs := []uint64{0, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	statuses := []string{api.PlayAccepted, api.PlayDuplicate, api.PlayUnknownTrack, "", strings.Repeat("s", 300)}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 23, 24, 300} {
		res := make([]api.PlayResult, n)
		w := api.PlaysAnswerWire{Results: make([]api.PlayResultWire, n)}
		for i := range res {
			res[i] = api.PlayResult{Seq: seqs[rng.IntN(len(seqs))], Status: statuses[rng.IntN(len(statuses))]}
			w.Results[i] = api.PlayResultWire{Seq: res[i].Seq, Status: res[i].Status}
		}
		want, err := cborx.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendAnswerWire(nil, res); !bytes.Equal(got, want) {
			t.Fatalf("%d results:\n got %x\nwant %x", n, got, want)
		}
	}
}
