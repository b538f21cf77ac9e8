package core_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/relay"
)

// TestSignUpRefusals: the relay's refusals of a signup an app must tell
// its user apart are sentinels: a name taken (409) is ErrAccountExists,
// signup closed (403) ErrSignupClosed. Both were a bare status error, so
// an app (and the engine's own test helper) matched "status 409" in the
// message to offer "sign in instead".
func TestSignUpRefusals(t *testing.T) {
	open := tbed.NewRelay(t, tbed.DefaultOptions())
	closed := tbed.NewRelay(t, tbed.DefaultOptions().WithRelayOptions(func(o relay.Options) relay.Options { return o.WithOpenSignup(false) }))
	ctx := t.Context()
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(open.URL))
	if err := e.SignUp(ctx, "ada", testPass); err != nil {
		t.Fatal(err)
	}
	c := tbed.Engine(t, core.DefaultOptions().WithOrigins(closed.URL))
	for _, tc := range []struct {
		name string
		e    *core.Engine
		want error
	}{
		{"name taken", e, core.ErrAccountExists},
		{"signup closed", c, core.ErrSignupClosed},
	} {
		err := tc.e.SignUp(ctx, "ada", testPass)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The account taken is still the one signed up: its password works.
	if err := e.Register(ctx, "ada", testPass, "phone"); err != nil {
		t.Errorf("register after the refused second signup: %v", err)
	}
}
