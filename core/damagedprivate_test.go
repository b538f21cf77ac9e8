package core_test

import (
	"context"
	"testing"

	"github.com/segue-fm/segue/core"
)

// TestDamagedPrivateSession: a cfg/private-session record that is neither
// "0" nor "1" reads as on (nothing is published) until the switch is set
// again; before, any damage turned a private session off and the device
// published what the user had hidden.
func TestDamagedPrivateSession(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		value []byte
		want  bool
	}{
		{[]byte("1"), true},
		{[]byte("0"), false},
		{[]byte{}, true},
		{[]byte{0x31, 0x00}, true},
		{[]byte{0xff}, true},
	} {
		dir := t.TempDir()
		opts := core.DefaultOptions().WithOrigins("http://127.0.0.1:1").WithLogger(quiet())
		e, err := core.Open(ctx, dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Store().Set(ctx, []byte("cfg/private-session"), tc.value); err != nil {
			t.Fatal(err)
		}
		on, err := e.PrivateSession(ctx)
		if err != nil || on != tc.want {
			t.Fatalf("%q: private session %v, %v; want %v", tc.value, on, err, tc.want)
		}
		if err := e.SetPrivateSession(ctx, false); err != nil {
			t.Fatal(err)
		}
		e.Close()
		if e, err = core.Open(ctx, dir, opts); err != nil {
			t.Fatal(err)
		}
		if on, err := e.PrivateSession(ctx); err != nil || on {
			t.Fatalf("%q: after turning it off: %v, %v", tc.value, on, err)
		}
		e.Close()
	}
}
