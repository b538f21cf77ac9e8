package license

import (
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/relay"
)

// Subscription states the admin route accepts. SubscriptionActive is the
// relay's state of a new account, the only one that lets keys and
// licenses be issued.
const (
	SubscriptionActive    = relay.SubscriptionActive
	SubscriptionExpired   = "expired"
	SubscriptionCancelled = "cancelled"
)

var (
	cborEnc = cborx.EncMode()
	// cborDec reads requests and the license server's records strictly.
	cborDec = cborx.Limits{MaxNestedLevels: 8, MaxArrayElements: 1 << 17, MaxMapPairs: 1 << 10}.StrictDecMode()
)
