package events_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/store"
)

// A device's signed batch appended twice (a retry whose answer was
// lost): the second append adds nothing, and a consumer reads each event
// once, with the batch's signed claim behind it.
func ExampleStoreLog() {
	ctx := context.Background()
	lg := events.NewStoreLog(store.NewMemory())

	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		log.Fatal(err)
	}
	const device = model.DeviceID("d1")
	plays := []api.PlayRecord{
		{Seq: 1, Track: "t1", StartedAt: 1_780_000_000_000, PlayedMs: 31_000},
		{Seq: 2, Track: "t2", StartedAt: 1_780_000_031_000, PlayedMs: 12_000},
	}
	msg, err := crypto.PlaysMessage(device, plays)
	if err != nil {
		log.Fatal(err)
	}
	b := events.Batch{Device: device, User: "ana", Received: 1_780_000_060_000, Message: msg, Sig: ed25519.Sign(key, msg), Events: plays}
	for range 2 {
		out, err := lg.Append(ctx, b)
		if err != nil {
			log.Fatal(err)
		}
		names := map[events.Outcome]string{events.Appended: "appended", events.Duplicate: "duplicate", events.Conflict: "conflict"}
		fmt.Println(names[out[0]], names[out[1]])
	}

	head, err := lg.Head(ctx)
	if err != nil {
		log.Fatal(err)
	}
	entries, err := lg.Read(ctx, 0, 10)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("head", head)
	for _, e := range entries {
		fmt.Println(e.Offset, e.Device, e.Event.Seq, e.Event.Track)
	}
	claim, err := lg.Batch(ctx, entries[0].Batch)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ed25519.Verify(key.Public().(ed25519.PublicKey), claim.Message, claim.Sig))
	// Output:
	// appended appended
	// duplicate duplicate
	// head 2
	// 0 d1 1 t1
	// 1 d1 2 t2
	// true
}
