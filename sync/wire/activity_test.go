package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func TestActivityBatchRoundTrip(t *testing.T) {
	item := func(s string) cbor.RawMessage {
		b, err := cbor.Marshal(map[int]string{1: s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	in := ActivityBatch{Items: []cbor.RawMessage{item("ada"), item("bob")}, Dropped: 3}
	b, err := EncodeActivityBatch(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeActivityBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 2 || !bytes.Equal(out.Items[0], in.Items[0]) || !bytes.Equal(out.Items[1], in.Items[1]) || out.Dropped != 3 || out.Snapshot {
		t.Fatalf("round trip: %+v", out)
	}
	snap, err := EncodeActivityBatch(ActivityBatch{Snapshot: true})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := DecodeActivityBatch(snap); err != nil || !out.Snapshot || len(out.Items) != 0 {
		t.Fatalf("empty snapshot: %+v, %v", out, err)
	}
}

func TestActivityBatchRejects(t *testing.T) {
	enc := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	many := make([]map[int]int, MaxActivityBatch+1)
	for i := range many {
		many[i] = map[int]int{1: i}
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not a map", enc([]int{1})},
		{"item not a map", enc(map[string]any{"activities": []any{"ada"}})},
		{"item an indefinite map", append(enc(map[string]any{"activities": []any{}})[:len(enc(map[string]any{"activities": []any{}}))-1], 0x81, 0xbf, 0x01, 0x02, 0xff)},
		{"too many items", enc(map[string]any{"activities": many})},
		{"dropped negative", enc(map[string]any{"activities": []any{}, "dropped": -1})},
		{"duplicate key", []byte{0xa2, 0x68, 's', 'n', 'a', 'p', 's', 'h', 'o', 't', 0xf5, 0x68, 's', 'n', 'a', 'p', 's', 'h', 'o', 't', 0xf4}},
		{"trailing bytes", append(enc(map[string]any{"activities": []any{}}), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := DecodeActivityBatch(tc.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeActivityBatch = %+v, %v; want ErrMalformed", b, err)
			}
		})
	}
	if _, err := EncodeActivityBatch(ActivityBatch{Items: []cbor.RawMessage{{0x01}}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("encoding a non-map item: %v", err)
	}
}

func TestActivityMessages(t *testing.T) {
	data, err := EncodeActivityBatch(ActivityBatch{Snapshot: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m  Message
		ok bool
	}{
		{Message{Type: TypeActivitySubscribe, SenderID: "d"}, true},
		{Message{Type: TypeActivityUnsubscribe, SenderID: "d"}, true},
		{Message{Type: TypeActivitySubscribe}, false},
		{Message{Type: TypeActivitySubscribe, SenderID: "d", Data: []byte{1}}, false},
		{Message{Type: TypeActivityUnsubscribe, SenderID: "d", DocumentID: "x"}, false},
		{Message{Type: TypeActivity, SenderID: "relay", Data: data}, true},
		{Message{Type: TypeActivity, SenderID: "relay"}, false},
		{Message{Type: TypeActivity, SenderID: "relay", Data: data, DocumentID: "x"}, false},
		{Message{Type: TypeActivityRefused, SenderID: "relay", Message: "too many"}, true},
		{Message{Type: TypeActivityRefused, SenderID: "relay"}, false},
	} {
		err := tc.m.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrMalformed)) {
			t.Errorf("%+v: Validate = %v, want ok=%v", tc.m, err, tc.ok)
		}
		if tc.ok {
			b, err := Encode(&tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if m, err := Decode(b, 0); err != nil || m.Type != tc.m.Type || !strings.EqualFold(m.SenderID, tc.m.SenderID) {
				t.Errorf("%s: decode = %+v, %v", tc.m.Type, m, err)
			}
		}
	}
}

func FuzzDecodeActivityBatch(f *testing.F) {
	good, err := EncodeActivityBatch(ActivityBatch{Items: []cbor.RawMessage{{0xa1, 0x01, 0x61, 'a'}}, Snapshot: true, Dropped: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := DecodeActivityBatch(b)
		if err != nil {
			return
		}
		again, err := EncodeActivityBatch(out)
		if err != nil {
			t.Fatalf("decoded batch does not re-encode: %v", err)
		}
		if _, err := DecodeActivityBatch(again); err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
	})
}

func TestActivityPublishRoundTrip(t *testing.T) {
	for _, in := range []ActivityPublish{
		{Track: "t1"},
		{Track: "t1", ContextKind: "album", ContextID: "a1", Playing: true},
		{Track: strings.Repeat("t", MaxActivityField), ContextKind: strings.Repeat("k", MaxActivityKind), ContextID: strings.Repeat("c", MaxActivityField)},
	} {
		b, err := EncodeActivityPublish(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := DecodeActivityPublish(b)
		if err != nil || out != in {
			t.Fatalf("round trip of %+v: %+v, %v", in, out, err)
		}
	}
}

func TestActivityPublishRejects(t *testing.T) {
	enc := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not a map", enc([]int{1})},
		{"no track", enc(map[int]any{2: "album", 3: "a1"})},
		{"empty track", enc(map[int]any{1: ""})},
		{"track too long", enc(map[int]any{1: strings.Repeat("t", MaxActivityField+1)})},
		{"context id too long", enc(map[int]any{1: "t", 3: strings.Repeat("c", MaxActivityField+1)})},
		{"kind too long", enc(map[int]any{1: "t", 2: strings.Repeat("k", MaxActivityKind+1)})},
		{"track not UTF-8", enc(map[int]any{1: "\xff"})},
		{"unknown key", enc(map[int]any{1: "t", 5: "ada"})},
		{"user named", enc(map[any]any{1: "t", "user": "ada"})},
		{"track not a string", enc(map[int]any{1: 7})},
		{"duplicate key", []byte{0xa2, 0x01, 0x61, 't', 0x01, 0x61, 'u'}},
		{"trailing bytes", append(enc(map[int]any{1: "t"}), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := DecodeActivityPublish(tc.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeActivityPublish = %+v, %v; want ErrMalformed", p, err)
			}
		})
	}
	if _, err := EncodeActivityPublish(ActivityPublish{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("encoding a publication without a track: %v", err)
	}
	data, err := EncodeActivityPublish(ActivityPublish{Track: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m  Message
		ok bool
	}{
		{Message{Type: TypeActivityPublish, SenderID: "d", Data: data}, true},
		{Message{Type: TypeActivityPublish, SenderID: "d"}, false},
		{Message{Type: TypeActivityPublish, SenderID: "d", Data: data, DocumentID: "x"}, false},
	} {
		if err := tc.m.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate = %v, want ok=%v", tc.m, err, tc.ok)
		}
	}
}

func FuzzDecodeActivityPublish(f *testing.F) {
	good, err := EncodeActivityPublish(ActivityPublish{Track: "t1", ContextKind: "album", ContextID: "a1", Playing: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0xa1, 0x01, 0x61, 't'})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeActivityPublish(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		again, err := EncodeActivityPublish(p)
		if err != nil {
			t.Fatalf("decoded publication does not re-encode: %v", err)
		}
		if q, err := DecodeActivityPublish(again); err != nil || q != p {
			t.Fatalf("re-encoded publication decodes to %+v, %v; want %+v", q, err, p)
		}
	})
}
