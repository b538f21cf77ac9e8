package strictjson

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestProblem: a value of the wrong JSON type is named by its JSON path
// and the JSON value wanted, never by the reader's Go types; other
// errors keep their text without the "json: " prefix.
func TestProblem(t *testing.T) {
	type inner struct {
		N uint8 `json:"n"`
	}
	type Embedded struct {
		Title string `json:"title"`
	}
	type doc struct {
		Embedded
		Samples int64     `json:"samples"`
		Name    string    `json:"name"`
		On      bool      `json:"on"`
		Key     []byte    `json:"key"`
		List    []inner   `json:"list"`
		At      time.Time `json:"at"`
		Rate    float64   `json:"rate"`
	}
	tests := []struct{ json, want string }{
		{`{"samples":1e300}`, `field "samples" is a JSON number 1e300, want an integer from -9223372036854775808 to 9223372036854775807`},
		{`{"name":5}`, `field "name" is a JSON number, want a string`},
		{`{"on":"yes"}`, `field "on" is a JSON string, want true or false`},
		{`{"key":{}}`, `field "key" is a JSON object, want a base64 string`},
		{`{"list":[{"n":300}]}`, `field "list.n" is a JSON number 300, want an integer from 0 to 255`},
		{`{"list":{}}`, `field "list" is a JSON object, want an array`},
		{`{"at":1}`, `Time.UnmarshalJSON: input is not a JSON string`},
		{`{"rate":"x"}`, `field "rate" is a JSON string, want a number`},
		{`{"title":1}`, `field "title" is a JSON number, want a string`},
		{`"x"`, `the file is a JSON string, want an object`},
		{`{"samples":`, `unexpected end of JSON input`},
	}
	for _, tc := range tests {
		var d doc
		err := json.Unmarshal([]byte(tc.json), &d)
		if err == nil {
			t.Fatalf("%s decoded", tc.json)
		}
		if got := Problem(err, "the file"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.json, got, tc.want)
		}
	}
	if got := Problem(errors.New("json: x"), "the file"); got != "x" {
		t.Errorf("plain error: %q", got)
	}
}
