package license

import (
	"github.com/segue-fm/segue/internal/cborx"
)

// Subscription states the admin route accepts (relay.SubscriptionActive
// is "active").
const (
	SubscriptionActive    = "active"
	SubscriptionExpired   = "expired"
	SubscriptionCancelled = "cancelled"
)

var (
	cborEnc = cborx.EncMode()
	// cborDec reads requests and the license server's records strictly.
	cborDec = cborx.Limits{MaxNestedLevels: 8, MaxArrayElements: 1 << 17, MaxMapPairs: 1 << 10}.StrictDecMode()
)
