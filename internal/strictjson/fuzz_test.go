package strictjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCheckUTF8: a JSON document CheckUTF8 accepts decodes to strings
// without U+FFFD unless the text itself holds one (raw, or escaped), so
// no invalid text reaches a handler disguised as a replacement
// character; and CheckUTF8 never panics.
func FuzzCheckUTF8(f *testing.F) {
	for _, s := range []string{`"a"`, `"\ud83d\ude00"`, `"\ud800"`, `"\\ud800"`, `{"k\udc00":1}`, "\"\xff\"", `["\ufffd"]`, `"\u00e9\n"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if CheckUTF8(b) != nil {
			return
		}
		lower := bytes.ToLower(b)
		if bytes.ContainsRune(b, utf8.RuneError) || bytes.Contains(lower, []byte(`\ufffd`)) {
			return
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // 1E1000 is valid JSON but no float64
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("valid JSON %q: %v", b, err)
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				if strings.ContainsRune(x, utf8.RuneError) {
					t.Fatalf("%q accepted, decodes to %q", b, x)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			case map[string]any:
				for k, e := range x {
					walk(k)
					walk(e)
				}
			}
		}
		walk(v)
	})
}
