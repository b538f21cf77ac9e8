package main

import (
	"net/http"
	"path/filepath"
	"testing"
)

// TestRelayMountsSearch starts the real `segue relay` and checks GET
// /v1/search is served and asks for a device token (404 before it was
// mounted).
func TestRelayMountsSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	url := startRelayBin(t, buildSegue(t), "--init", "--data", filepath.Join(t.TempDir(), "relay"))
	resp, err := http.Get(url + "/v1/search?q=abba")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/search without a token: %d, want 401", resp.StatusCode)
	}
}
