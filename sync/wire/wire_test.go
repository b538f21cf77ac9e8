package wire

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
)

// TestDecodeAutomergeRepoFrames decodes frames written by automerge-repo's
// own CBOR helper (sync/interop/gen-wire-testdata.mjs) and checks that
// re-encoding and decoding again gives the same message.
func TestDecodeAutomergeRepoFrames(t *testing.T) {
	tests := []struct {
		file string
		want func(t *testing.T, m *Message)
	}{
		{"join.cbor", func(t *testing.T, m *Message) {
			if m.Type != TypeJoin || m.SenderID != "js-peer" || m.PeerMetadata == nil ||
				m.PeerMetadata.StorageID != "st-1" || !reflect.DeepEqual(m.SupportedProtocolVersions, []string{"1"}) {
				t.Fatalf("join = %+v", m)
			}
		}},
		{"peer.cbor", func(t *testing.T, m *Message) {
			if m.Type != TypePeer || m.TargetID != "js-peer" || m.SelectedProtocolVersion != ProtocolV1 {
				t.Fatalf("peer = %+v", m)
			}
		}},
		{"request.cbor", func(t *testing.T, m *Message) {
			if m.Type != TypeRequest || len(m.Data) == 0 {
				t.Fatalf("request = %+v", m)
			}
			if _, err := m.DocID(); err != nil {
				t.Fatal(err)
			}
		}},
		{"sync.cbor", func(t *testing.T, m *Message) {
			if m.Type != TypeSync || len(m.Data) == 0 {
				t.Fatalf("sync = %+v", m)
			}
			if _, err := InspectSync(m.Data); err != nil {
				t.Fatal(err)
			}
		}},
		{"unavailable.cbor", func(t *testing.T, m *Message) {
			if m.Type != TypeDocUnavailable || m.DocumentID == "" {
				t.Fatalf("doc-unavailable = %+v", m)
			}
		}},
		{"ephemeral.cbor", func(t *testing.T, m *Message) {
			if m.Type != TypeEphemeral || m.Count != 3 || m.SessionID != "k2j3h4" || len(m.Data) == 0 {
				t.Fatalf("ephemeral = %+v", m)
			}
		}},
		{"error.cbor", func(t *testing.T, m *Message) {
			if m.Type != TypeError || m.Message != "unsupported protocol version" {
				t.Fatalf("error = %+v", m)
			}
		}},
		{"heads.cbor", func(t *testing.T, m *Message) {
			if m.Type != TypeRemoteHeadsChanged || m.DocumentID == "" {
				t.Fatalf("remote-heads-changed = %+v", m)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(b, 0)
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, m)
			again, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := Decode(again, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, m2) {
				t.Fatalf("re-encode changed message:\n%+v\n%+v", m, m2)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	enc := func(v any) []byte {
		enc, _ := modes()
		b, err := enc.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty", nil, 0, ErrMalformed},
		{"not cbor", []byte{0xff, 0x00}, 0, ErrMalformed},
		{"array not map", enc([]int{1, 2}), 0, ErrMalformed},
		{"trailing bytes", append(enc(map[string]any{"type": "join", "senderId": "a"}), 0x01), 0, ErrMalformed},
		{"no type", enc(map[string]any{"senderId": "a"}), 0, ErrMalformed},
		{"no sender", enc(map[string]any{"type": "join"}), 0, ErrMalformed},
		{"sync without data", enc(map[string]any{"type": "sync", "senderId": "a", "targetId": "b", "documentId": "x"}), 0, ErrMalformed},
		{"sync empty data", enc(map[string]any{"type": "sync", "senderId": "a", "targetId": "b", "documentId": "x", "data": []byte{}}), 0, ErrMalformed},
		{"ephemeral without count", enc(map[string]any{"type": "ephemeral", "senderId": "a", "documentId": "x", "sessionId": "s", "data": []byte{1}}), 0, ErrMalformed},
		{"data as string", enc(map[string]any{"type": "sync", "senderId": "a", "targetId": "b", "documentId": "x", "data": "zz"}), 0, ErrMalformed},
		{"duplicate key", []byte{0xa2, 0x64, 't', 'y', 'p', 'e', 0x61, 'a', 0x64, 't', 'y', 'p', 'e', 0x61, 'b'}, 0, ErrMalformed},
		{"huge sender", enc(map[string]any{"type": "join", "senderId": strings.Repeat("a", 300)}), 0, ErrMalformed},
		{"over frame limit", enc(map[string]any{"type": "join", "senderId": strings.Repeat("a", 100)}), 50, ErrFrameTooLarge},
		{"huge refusal", enc(map[string]any{"type": "error", "documentId": "x", "message": "m", "segueRefusal": strings.Repeat("a", 33)}), 0, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in, tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEncodeOmitsEmptyData(t *testing.T) {
	b, err := Encode(&Message{Type: TypeDocUnavailable, SenderID: "a", TargetID: "b", DocumentID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("data")) {
		t.Fatalf("encoded doc-unavailable contains a data key: %x", b)
	}
	if _, err := Encode(&Message{Type: TypeSync, SenderID: "a", TargetID: "b", DocumentID: "x"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Encode(sync without data) = %v, want ErrMalformed", err)
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	msgs := []*Message{
		{Type: TypeJoin, SenderID: "a", PeerMetadata: &PeerMetadata{StorageID: "s"}, SupportedProtocolVersions: []string{ProtocolV1}},
		{Type: TypeSync, SenderID: "a", TargetID: "b", DocumentID: "d", Data: []byte{0x42, 0, 0, 0, 0}},
	}
	for _, m := range msgs {
		if err := WriteFrame(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		got, err := ReadFrame(&buf, 0)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("frame %d = %+v, want %+v", i, got, want)
		}
	}
	if _, err := ReadFrame(&buf, 0); err != io.EOF {
		t.Fatalf("ReadFrame at end = %v, want io.EOF", err)
	}
	// A declared length above the cap is refused before reading the body.
	huge := bytes.NewReader([]byte{0x7f, 0xff, 0xff, 0xff})
	if _, err := ReadFrame(huge, 0); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("ReadFrame(2 GiB header) = %v, want ErrFrameTooLarge", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0, 0, 9, 1}), 0); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("ReadFrame(truncated) = %v, want a non-EOF error", err)
	}
}

// syncMessageWithChanges returns a real automerge-go sync message that
// carries n changes.
func syncMessageWithChanges(t testing.TB, n int) []byte {
	a, b := automerge.New(), automerge.New()
	for i := range n {
		if err := a.Path("k").Set(i); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Commit("edit"); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := automerge.NewSyncState(a), automerge.NewSyncState(b)
	for range 10 {
		m, ok := sa.GenerateMessage()
		if !ok {
			break
		}
		if len(m.Changes()) > 0 {
			return m.Bytes()
		}
		if _, err := sb.ReceiveMessage(m.Bytes()); err != nil {
			t.Fatal(err)
		}
		if m2, ok := sb.GenerateMessage(); ok {
			if _, err := sa.ReceiveMessage(m2.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("no sync message with changes")
	return nil
}

func TestInspectSync(t *testing.T) {
	js, err := os.ReadFile("testdata/syncmsg.bin")
	if err != nil {
		t.Fatal(err)
	}
	withChanges := syncMessageWithChanges(t, 3)
	tests := []struct {
		name        string
		in          []byte
		wantChanges int
		wantErr     bool
	}{
		{"js first message", js, 0, false},
		{"go message with changes", withChanges, 3, false},
		{"empty", nil, 0, true},
		{"wrong type", []byte{0x41, 0, 0, 0, 0}, 0, true},
		{"truncated", withChanges[:len(withChanges)/2], 0, true},
		{"hash count too big", []byte{0x42, 0xff, 0xff, 0xff, 0xff, 0x0f}, 0, true},
		{"change length too big", []byte{0x42, 0, 0, 0, 1, 0xff, 0x01}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := InspectSync(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("InspectSync = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Changes) != tc.wantChanges {
				t.Fatalf("changes = %d, want %d", len(s.Changes), tc.wantChanges)
			}
			for _, c := range s.Changes {
				if !bytes.HasPrefix(c, []byte{0x85, 0x6f, 0x4a, 0x83}) {
					t.Fatalf("extracted change %x does not start with the automerge chunk magic", c[:min(8, len(c))])
				}
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.cbor")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, 0)
		if err != nil {
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
		if _, err := Decode(again, 0); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.cbor")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{0, 0, byte(len(b) >> 8), byte(len(b))}, b...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			if _, err := ReadFrame(r, 4096); err != nil {
				return
			}
		}
	})
}

func FuzzInspectSync(f *testing.F) {
	js, err := os.ReadFile("testdata/syncmsg.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Add(syncMessageWithChanges(f, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := InspectSync(b)
		if err != nil {
			return
		}
		total := 0
		for _, c := range s.Changes {
			total += len(c)
		}
		if total > len(b) {
			t.Fatalf("changes total %d bytes from %d input bytes", total, len(b))
		}
	})
}

func TestSyncMessageRoundTrip(t *testing.T) {
	js, err := os.ReadFile("testdata/syncmsg.bin")
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{"js": js, "go": syncMessageWithChanges(t, 3)} {
		m, err := ParseSync(in)
		if err != nil {
			t.Fatalf("%s: ParseSync: %v", name, err)
		}
		if out := m.Encode(); !bytes.Equal(out, in) {
			t.Fatalf("%s: Encode(ParseSync(b)) differs from b (%d vs %d bytes)", name, len(out), len(in))
		}
		// Dropping a change and adding a need still parses to exactly that.
		if len(m.Changes) > 0 {
			m.Changes = m.Changes[1:]
		}
		m.Need = append(m.Need, [32]byte{1, 2, 3})
		back, err := ParseSync(m.Encode())
		if err != nil {
			t.Fatalf("%s: reparse: %v", name, err)
		}
		if !reflect.DeepEqual(normSync(back), normSync(m)) {
			t.Fatalf("%s: rewritten message parses to %+v, want %+v", name, back, m)
		}
	}
}

// normSync maps empty slices to nil so parsed and built messages compare.
func normSync(m SyncMessage) SyncMessage {
	if len(m.Tail) == 0 {
		m.Tail = nil
	}
	if len(m.Heads) == 0 {
		m.Heads = nil
	}
	for i := range m.Have {
		if len(m.Have[i].Bloom) == 0 {
			m.Have[i].Bloom = nil
		}
	}
	return m
}

func FuzzParseSync(f *testing.F) {
	js, err := os.ReadFile("testdata/syncmsg.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Add(syncMessageWithChanges(f, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseSync(b)
		if err != nil {
			return
		}
		back, err := ParseSync(m.Encode())
		if err != nil {
			t.Fatalf("Encode of a parsed message does not parse: %v", err)
		}
		if !reflect.DeepEqual(normSync(back), normSync(m)) {
			t.Fatalf("round trip changed the message: %+v -> %+v", m, back)
		}
	})
}

// FuzzSyncChangeCount: SyncChangeCount agrees with ParseSync on every
// message ParseSync reads, and refuses nothing ParseSync reads.
func FuzzSyncChangeCount(f *testing.F) {
	js, err := os.ReadFile("testdata/syncmsg.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Add(syncMessageWithChanges(f, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, cerr := SyncChangeCount(b)
		m, err := ParseSync(b)
		if err != nil {
			return
		}
		if cerr != nil || n != len(m.Changes) {
			t.Fatalf("SyncChangeCount = %d, %v; ParseSync read %d changes", n, cerr, len(m.Changes))
		}
	})
}

// TestSyncChangeCount: the count of messages with none, one and several
// changes, and ErrMalformed for bytes that do not reach the count.
func TestSyncChangeCount(t *testing.T) {
	three := syncMessageWithChanges(t, 3)
	js, err := os.ReadFile("testdata/syncmsg.bin")
	if err != nil {
		t.Fatal(err)
	}
	jsm, err := ParseSync(js)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want int
		err  bool
	}{
		{"stock automerge-js message", js, len(jsm.Changes), false},
		{"three changes", three, 3, false},
		{"one change", syncMessageWithChanges(t, 1), 1, false},
		{"heads only", SyncMessage{Type: syncTypeV1, Heads: [][32]byte{{1}}}.Encode(), 0, false},
		{"empty", nil, 0, true},
		{"wrong type", []byte{0x41, 0, 0, 0, 0}, 0, true},
		{"truncated heads", []byte{syncTypeV1, 2, 1, 2, 3}, 0, true},
		{"no change count", []byte{syncTypeV1, 0, 0, 0}, 0, true},
		{"count past the end", []byte{syncTypeV1, 0, 0, 0, 5, 1}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := SyncChangeCount(tc.data)
			if tc.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("SyncChangeCount = %d, %v; want ErrMalformed", n, err)
				}
				return
			}
			if err != nil || n != tc.want {
				t.Fatalf("SyncChangeCount = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
}

// TestPeerFeatures: a peer message's segueFeatures survive a round trip,
// an absent key (an older relay, a stock automerge-repo peer) announces
// nothing, and Has looks at the first MaxFeatures only.
func TestPeerFeatures(t *testing.T) {
	m := &Message{Type: TypePeer, SenderID: "relay", TargetID: "dev", SelectedProtocolVersion: ProtocolV1,
		PeerMetadata: &PeerMetadata{StorageID: "relay", Features: []string{FeatureActivityPublish}}}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !got.PeerMetadata.Has(FeatureActivityPublish) || got.PeerMetadata.Has("other") {
		t.Fatalf("decoded features %v", got.PeerMetadata.Features)
	}
	m.PeerMetadata.Features = nil
	if b, err = Encode(m); err != nil {
		t.Fatal(err)
	}
	if got, err = Decode(b, 1<<20); err != nil || got.PeerMetadata.Has(FeatureActivityPublish) {
		t.Fatalf("no features: %+v, %v", got.PeerMetadata, err)
	}
	var none *PeerMetadata
	if none.Has(FeatureActivityPublish) {
		t.Fatal("nil metadata has a feature")
	}
	many := make([]string, MaxFeatures, MaxFeatures+1)
	many = append(many, FeatureActivityPublish)
	if (&PeerMetadata{Features: many}).Has(FeatureActivityPublish) {
		t.Fatal("a feature past MaxFeatures counted")
	}
}

// TestRefusalRoundTrip: an error message's segueRefusal survives
// encoding; a message without one encodes no such key.
func TestRefusalRoundTrip(t *testing.T) {
	for _, rule := range []string{RefusalACL, RefusalReadOnly, ""} {
		m := ErrorMessage("relay", "dev", "refused")
		m.DocumentID, m.Refusal = "x", rule
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, []byte("segueRefusal")); got != (rule != "") {
			t.Fatalf("rule %q: segueRefusal key encoded: %v", rule, got)
		}
		back, err := Decode(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		if back.Refusal != rule {
			t.Fatalf("decoded refusal %q, want %q", back.Refusal, rule)
		}
	}
}
