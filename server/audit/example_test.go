package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/store"
)

// A chain of counted streams with a signed checkpoint every two records;
// Verify checks it, and names the deleted record once one is removed from
// the store behind the chain's back.
func ExampleVerify() {
	ctx := context.Background()
	st := store.NewMemory()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		log.Fatal(err)
	}
	clock := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	chain := audit.NewChain(st, priv, 2, func() time.Time { return clock })
	for seq := range uint64(3) {
		err := chain.Update(ctx, func(tx store.Txn, add func(audit.Record) error) error {
			return add(audit.Record{Kind: "stream", Device: "d1", User: "ana", Seq: seq, Track: "t1", Started: clock.UnixMilli(), Played: 31_000})
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	rep, err := audit.Verify(ctx, st, pub)
	fmt.Println(rep.Records, rep.Checkpoints, err)

	// Each Update above wrote its record under its own key, aud/r/<index>.
	key := binary.BigEndian.AppendUint64([]byte("aud/r/"), 1)
	if err := st.Delete(ctx, key); err != nil {
		log.Fatal(err)
	}
	_, err = audit.Verify(ctx, st, pub)
	fmt.Println(errors.Is(err, audit.ErrTampered))
	fmt.Println(err)
	// Output:
	// 3 1 <nil>
	// true
	// audit: log tampered: record 1 missing (next present is 2): deleted
}
