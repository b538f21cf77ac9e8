package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/crypto"
)

// TestDeviceProofMessage pins the wire format of docs/ARCHITECTURE.md §4
// byte for byte: the relay and every device build it independently.
func TestDeviceProofMessage(t *testing.T) {
	sign := bytes.Repeat([]byte{0x07}, 32)
	hpke := bytes.Repeat([]byte{0x09}, 32)
	at := time.Unix(1_700_000_000, 999_000_000) // sub-second part is dropped
	keys := strings.Repeat("07", 32) + strings.Repeat("09", 32)
	tests := []struct {
		name, user, device string
		want               string // hex
	}{
		{"plain", "ada", "phone",
			hex.EncodeToString([]byte("segue-device-v1\x00")) + "0003" + hex.EncodeToString([]byte("ada")) +
				"0005" + hex.EncodeToString([]byte("phone")) + keys + "000000006553f100"},
		{"empty", "", "",
			hex.EncodeToString([]byte("segue-device-v1\x00")) + "0000" + "0000" + keys + "000000006553f100"},
		{"utf-8 name counts bytes", "x", "é",
			hex.EncodeToString([]byte("segue-device-v1\x00")) + "0001" + "78" + "0002" + "c3a9" + keys + "000000006553f100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := hex.EncodeToString(crypto.DeviceProofMessage(tc.user, tc.device, sign, hpke, at))
			if got != tc.want {
				t.Fatalf("message\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestDeviceProofBindsFields: changing any field changes the message, and
// moving bytes between username and name does too (length prefixes).
func TestDeviceProofBindsFields(t *testing.T) {
	id, _ := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{3}, 64)))
	sp, hp := id.SignPublic(), id.HPKEPublic()
	at := time.Unix(1_700_000_000, 0)
	base := crypto.DeviceProofMessage("ada", "phone", sp, hp, at)
	sig := id.Sign(base)
	other := bytes.Repeat([]byte{1}, 32)
	for name, msg := range map[string][]byte{
		"username": crypto.DeviceProofMessage("adb", "phone", sp, hp, at),
		"name":     crypto.DeviceProofMessage("ada", "phonf", sp, hp, at),
		"boundary": crypto.DeviceProofMessage("adap", "hone", sp, hp, at),
		"sign_pub": crypto.DeviceProofMessage("ada", "phone", other, hp, at),
		"hpke_pub": crypto.DeviceProofMessage("ada", "phone", sp, other, at),
		"issued":   crypto.DeviceProofMessage("ada", "phone", sp, hp, at.Add(time.Second)),
	} {
		if ed25519.Verify(sp, msg, sig) {
			t.Errorf("%s: the signature over the original message verifies a changed one", name)
		}
	}
	if !ed25519.Verify(sp, base, sig) {
		t.Fatal("signature does not verify")
	}
}

// TestRenewMessage pins the renew signing format byte for byte (devices
// and the relay build it independently) and checks it is unambiguous.
func TestRenewMessage(t *testing.T) {
	a, err := crypto.RenewMessage("dev", []byte("n"), []string{"l1", "l2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := crypto.RenewMessage("dev", []byte("n"), []string{"l1l2"}, nil)
	if bytes.Equal(a, b) {
		t.Fatal("ids are not length-delimited")
	}
	if _, err := crypto.RenewMessage("dev", make([]byte, 70000), nil, nil); err == nil {
		t.Fatal("oversized field accepted")
	}
	// Drops are signed: a request whose drop list was edited fails the
	// signature; no drops leaves the message as before.
	d1, _ := crypto.RenewMessage("dev", []byte("n"), []string{"l1", "l2"}, []api.Entry{{Track: "t1", Tier: "low"}})
	d2, _ := crypto.RenewMessage("dev", []byte("n"), []string{"l1", "l2"}, []api.Entry{{Track: "t1lo", Tier: "w"}})
	if bytes.Equal(d1, a) || bytes.Equal(d1, d2) {
		t.Fatal("drop entries are not part of the signed message, or not length-delimited")
	}
	if !bytes.HasPrefix(d1, a) {
		t.Fatal("drops changed the message's common prefix")
	}
	const want = "73656775652d72656e65772d7631" + "00" + "0003646576" + "00016e" +
		"00000002" + "00026c31" + "00026c32" + "00000001" + "00027431" + "00036c6f77"
	if got := hex.EncodeToString(d1); got != want {
		t.Fatalf("message %s, want %s", got, want)
	}
}
