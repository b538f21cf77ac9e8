package crypto_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// TestPlaysMessage pins the play-batch signing format byte for byte
// (devices and the relay build it independently) and checks that every
// field of every event is signed.
func TestPlaysMessage(t *testing.T) {
	ev := api.PlayRecord{Seq: 1, Track: "t", Tier: "low", Context: model.PlayContext{Kind: "album", ID: "a"},
		StartedAt: 2, PlayedMs: 3, EndReason: "skipped", Source: "stream", Offline: true}
	got, err := crypto.PlaysMessage("d", []api.PlayRecord{ev})
	if err != nil {
		t.Fatal(err)
	}
	const want = "73656775652d706c6179732d7631" + "00" + "000164" + "00000001" +
		"0000000000000001" + "000174" + "00036c6f77" + "0005616c62756d" + "000161" +
		"0000000000000002" + "0000000000000003" + "0007736b6970706564" + "000673747265616d" + "01"
	if h := hex.EncodeToString(got); h != want {
		t.Fatalf("message %s, want %s", h, want)
	}
	for name, edit := range map[string]func(*api.PlayRecord){
		"seq":      func(e *api.PlayRecord) { e.Seq++ },
		"track":    func(e *api.PlayRecord) { e.Track = "u" },
		"tier":     func(e *api.PlayRecord) { e.Tier = "high" },
		"ctx kind": func(e *api.PlayRecord) { e.Context.Kind = "playlist" },
		"ctx id":   func(e *api.PlayRecord) { e.Context.ID = "b" },
		"started":  func(e *api.PlayRecord) { e.StartedAt++ },
		"played":   func(e *api.PlayRecord) { e.PlayedMs++ },
		"end":      func(e *api.PlayRecord) { e.EndReason = "completed" },
		"source":   func(e *api.PlayRecord) { e.Source = "download" },
		"offline":  func(e *api.PlayRecord) { e.Offline = false },
		"muted":    func(e *api.PlayRecord) { e.VolumeMuted = true },
		"trusted":  func(e *api.PlayRecord) { e.TrustedTime = true },
	} {
		e := ev
		edit(&e)
		m, _ := crypto.PlaysMessage("d", []api.PlayRecord{e})
		if bytes.Equal(m, got) {
			t.Errorf("%s is not signed", name)
		}
	}
	if m, _ := crypto.PlaysMessage("e", []api.PlayRecord{ev}); bytes.Equal(m, got) {
		t.Error("device is not signed")
	}
	if _, err := crypto.PlaysMessage("d", []api.PlayRecord{{Track: model.TrackID(make([]byte, 70000))}}); err == nil {
		t.Error("oversized field accepted")
	}
}
