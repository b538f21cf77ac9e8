package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// TestWireJSON pins the JSON of every body byte for byte. Relay and
// engine share these types, so a renamed tag would pass their round-trip
// tests while breaking older peers; this test is the wire contract of
// docs/ARCHITECTURE.md §4.
func TestWireJSON(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"error", api.ErrorBody{Error: "relay: no"}, `{"error":"relay: no"}`},
		{"account", api.AccountRequest{Username: "ada", Password: "pw"}, `{"username":"ada","password":"pw"}`},
		{"register", api.RegisterRequest{Username: "ada", Password: "pw", Name: "phone", SignPub: []byte{1}, HPKEPub: []byte{2}, Issued: 7, Sig: []byte{3}},
			`{"username":"ada","password":"pw","name":"phone","sign_pub":"AQ==","hpke_pub":"Ag==","issued":7,"sig":"Aw=="}`},
		{"register answer", api.RegisterResponse{DeviceID: "d1", Token: "tok", CatalogKey: []byte{4}, Cert: []byte{5}},
			`{"device_id":"d1","token":"tok","catalog_key":"BA==","cert":"BQ=="}`},
		{"register answer with library", api.RegisterResponse{DeviceID: "d1", Token: "tok", Library: "2Xk"},
			`{"device_id":"d1","token":"tok","catalog_key":null,"cert":null,"library":"2Xk"}`},
		{"me", api.MeResponse{Library: "2Xk"}, `{"library":"2Xk"}`},
		{"cert", api.CertResponse{Cert: []byte{5}}, `{"cert":"BQ=="}`},
		{"lan keys", api.LANKeysRequest{With: []model.UserID{"bob"}}, `{"with":["bob"]}`},
		{"lan keys answer", api.LANKeysResponse{Keys: []api.LANKey{{User: "ada", Key: []byte{9}, Epoch: 7}}}, `{"keys":[{"user":"ada","key":"CQ==","epoch":7}]}`},
		{"catalog key", api.CatalogKeyResponse{Key: []byte{4}}, `{"key":"BA=="}`},
		{"catalog key nil", api.CatalogKeyResponse{}, `{"key":null}`},
		{"album", api.AlbumResponse{Album: model.Album{ID: "a1"}, Tracks: []model.Track{}}, ""},
		{"stream key", api.StreamKeyRequest{Track: "t1", Tier: model.TierLow}, `{"track":"t1","tier":"low"}`},
		{"admin ingest answer", api.IngestResponse{Albums: []api.IngestedAlbum{{ID: "a1", Title: "A"}}, Tracks: []api.IngestedTrack{{ID: "t1", Album: "a1", Title: "T", File: "01.wav", Skipped: true}}},
			`{"albums":[{"id":"a1","title":"A"}],"tracks":[{"id":"t1","album_id":"a1","title":"T","file":"01.wav","skipped":true}]}`},
		{"stream key answer", api.StreamKeyResponse{Track: "t1", Tier: model.TierHigh, Wrapped: []byte{6}, ServerTime: at},
			`{"track":"t1","tier":"high","wrapped":"Bg==","server_time":"2030-01-02T03:04:05Z"}`},
		{"issue", api.IssueRequest{Tracks: []model.TrackID{"t1"}, Tier: model.TierLow, Nonce: []byte{7}},
			`{"tracks":["t1"],"tier":"low","nonce":"Bw=="}`},
		{"issue albums", api.IssueRequest{Albums: []model.AlbumID{"a1"}, Tier: model.TierLow}, `{"albums":["a1"],"tier":"low"}`},
		{"issue per track", api.IssueRequest{Tracks: []model.TrackID{"t1"}, Tier: model.TierLow, PerTrack: true},
			`{"tracks":["t1"],"tier":"low","per_track":true}`},
		{"renew", api.RenewRequest{Device: "d1", LicenseIDs: []string{"l1"}, Nonce: []byte{7}, Sig: []byte{8}},
			`{"device":"d1","license_ids":["l1"],"nonce":"Bw==","sig":"CA=="}`},
		{"renew drop", api.RenewRequest{Device: "d1", LicenseIDs: []string{"l1"}, Drop: []api.Entry{{Track: "t1", Tier: model.TierLow}}, Nonce: []byte{7}, Sig: []byte{8}},
			`{"device":"d1","license_ids":["l1"],"drop":[{"track":"t1","tier":"low"}],"nonce":"Bw==","sig":"CA=="}`},
		{"offline devices", api.OfflineDevicesResponse{Limit: 5, Devices: []api.OfflineDevice{{DeviceID: "d1", Name: "phone", Since: 7}}},
			`{"limit":5,"devices":[{"device_id":"d1","name":"phone","since":7}]}`},
		{"subscription", api.SubscriptionRequest{State: "cancelled"}, `{"state":"cancelled"}`},
		{"activity post", api.ActivityPost{Track: "t1", Context: model.PlayContext{Kind: "album", ID: "a1"}, Playing: true},
			`{"track":"t1","context":{"kind":"album","id":"a1"},"playing":true}`},
		{"activity", api.Activity{User: "ada", DisplayName: "Ada", Track: "t1", Title: "T", Artists: []string{"A"}, At: at, Playing: true},
			`{"user":"ada","display_name":"Ada","track":"t1","title":"T","artists":["A"],"context":{"kind":"","id":""},"at":"2030-01-02T03:04:05Z","playing":true}`},
		{"share request", api.ShareRequest{Kind: api.SharePlaylist, ID: "p", Invite: true, TTL: 60},
			`{"kind":"playlist","id":"p","invite":true,"ttl":60}`},
		{"share", api.Share{Token: "tok", URL: "https://x/s/tok", Kind: "track", ID: "t1"},
			`{"token":"tok","url":"https://x/s/tok","kind":"track","id":"t1"}`},
		{"user list", api.UserList{Users: []model.UserID{"bob"}}, `{"users":["bob"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" { // nested model types: pin only the outer keys
				var m map[string]json.RawMessage
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				if _, ok := m["album"]; !ok || len(m) != 2 || m["tracks"] == nil {
					t.Fatalf("keys of %s", b)
				}
				return
			}
			if string(b) != tt.want {
				t.Fatalf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

// TestStatementServerTime checks the millisecond clock conversion.
func TestStatementServerTime(t *testing.T) {
	s := api.Statement{Time: 1_700_000_000_123}
	if got, want := s.ServerTime(), time.UnixMilli(1_700_000_000_123).UTC(); !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("ServerTime %v, want %v", got, want)
	}
}
