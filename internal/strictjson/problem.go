package strictjson

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/segue-fm/segue/internal/safetext"
)

// Problem describes an error of encoding/json's decoding for the person
// who wrote the JSON: a value of the wrong JSON type is named by its
// field's JSON path (quoted), or by whole ("the body", "the file") when it
// is the whole document, and the JSON value wanted — encoding/json's
// own message names the reader's Go types instead ("cannot unmarshal
// number 1e300 into Go struct field TrackRequest.tracks.samples of type
// int64"); other errors lose their "json: " prefix.
func Problem(err error, whole string) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	want := "another value"
	if te.Type != nil {
		want = kind(te.Type)
	}
	if te.Field == "" {
		return fmt.Sprintf("%s is a JSON %s, want %s", whole, te.Value, want)
	}
	return fmt.Sprintf("field %s is a JSON %s, want %s", safetext.Quote(jsonPath(te.Field)), te.Value, want)
}

// jsonPath returns encoding/json's path of a field without the Go names
// of embedded structs it puts in ("Artist.name" for the name of an
// embedded Artist): a component starting with an upper-case letter
// before the last, which no JSON name of Segue's formats does.
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	kept := parts[:0]
	for i, p := range parts {
		if i < len(parts)-1 && p != "" && unicode.IsUpper(rune(p[0])) {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, ".")
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// kind names the JSON value encoding/json decodes into a value of type t.
func kind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("an integer from %d to %d", int64(-1)<<(t.Bits()-1), int64(1)<<(t.Bits()-1)-1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmt.Sprintf("an integer from 0 to %d", uint64(1)<<(t.Bits()-1)*2-1)
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another value"
}
