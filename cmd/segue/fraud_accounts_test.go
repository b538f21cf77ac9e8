package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/server/fraud"
)

// TestReadAccounts: the --accounts file is read strictly. Before, a
// misspelt key ("friend") or friends and library edits given without
// "social": true were dropped without a word, and the scan ran as if the
// operator had given nothing.
func TestReadAccounts(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       error // nil: accepted
	}{
		{"social facts", `{"u": {"ip": "203.0.113.7", "social": true, "friends": 3, "library_edits": 2}}`, nil},
		{"ip alone", `{"u": {"ip": "203.0.113.7"}}`, nil},
		{"social without friends", `{"u": {"social": true}}`, nil},
		{"misspelt key", `{"u": {"social": true, "friend": 3}}`, fraud.ErrBadAccountInfo},
		{"unknown key", `{"u": {"ip": "203.0.113.7", "country": "DE"}}`, fraud.ErrBadAccountInfo},
		{"friends without social", `{"u": {"friends": 3}}`, fraud.ErrBadAccountInfo},
		{"library edits without social", `{"u": {"library_edits": 7}}`, fraud.ErrBadAccountInfo},
		{"negative friends", `{"u": {"social": true, "friends": -1}}`, fraud.ErrBadAccountInfo},
		{"empty user", `{"": {"ip": "203.0.113.7"}}`, fraud.ErrBadAccountInfo},
		{"trailing data", `{"u": {"ip": "203.0.113.7"}} {}`, fraud.ErrBadAccountInfo},
		{"not an object", `[]`, fraud.ErrBadAccountInfo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "accounts.json")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			info, err := readAccounts(path)
			if tc.want == nil {
				if err != nil || len(info) != 1 {
					t.Fatalf("%s: %v, %v; want accepted", tc.body, info, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: %v, %v; want %v", tc.body, info, err, tc.want)
			}
		})
	}
}
