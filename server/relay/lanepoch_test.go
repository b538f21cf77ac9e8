package relay_test

import (
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/relay"
)

// TestLANKeyEpochs: the LAN keys rotate every epoch
// (relay.WithLANKeyEpoch, by the relay's clock). POST
// /v1/devices/lan-keys answers, per user, the key of the current epoch
// and of the previous one, so devices that fetched their keys one epoch
// apart still hold one in common, and devices two epochs apart none: a
// key that leaked is good for two epochs at most. Before, the key of a
// pair of accounts never changed.
func TestLANKeyEpochs(t *testing.T) {
	const epoch = time.Hour
	e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options { return o.WithLANKeyEpoch(epoch) })
	fetch := func(t *testing.T) map[string]bool {
		t.Helper()
		res := e.do(t, "POST", "/v1/devices/lan-keys", api.LANKeysRequest{With: []model.UserID{"bob"}}, e.token)
		if res.code != 200 {
			t.Fatalf("lan-keys: %d %s", res.code, res.body)
		}
		var out api.LANKeysResponse
		res.json(t, &out)
		got := map[string]bool{}
		for _, k := range out.Keys {
			got[string(k.User)+"\x00"+string(k.Key)] = true
		}
		if len(out.Keys) != 4 || len(got) != 4 {
			t.Fatalf("keys %+v: want 4 distinct, 2 epochs of ada and bob", out.Keys)
		}
		return got
	}
	common := func(a, b map[string]bool) int {
		n := 0
		for k := range a {
			if b[k] {
				n++
			}
		}
		return n
	}
	at0 := fetch(t) // 03:04:05, in the middle of an epoch
	for _, c := range []struct {
		name    string
		advance time.Duration // the clock moves on, from the last case
		common  int
	}{
		{"same epoch", epoch / 4, 4},
		{"next epoch", epoch, 2},
		{"two epochs later", epoch, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.clock.Advance(c.advance)
			if n := common(at0, fetch(t)); n != c.common {
				t.Fatalf("%d keys in common with the first fetch, want %d", n, c.common)
			}
		})
	}
}
