package store_test

import (
	"context"
	"fmt"

	"github.com/segue-fm/segue/store"
)

func Example() {
	ctx := context.Background()
	s := store.NewMemory()
	defer s.Close()
	if err := store.CheckSchema(ctx, s); err != nil {
		panic(err)
	}
	err := s.Update(ctx, func(tx store.Txn) error {
		for i, title := range []string{"Intro", "Song", "Outro"} {
			if err := tx.Set(store.Key("demo", store.U64(uint64(i))), []byte(title)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	_ = s.Iterate(ctx, store.Prefix("demo"), true, func(k, v []byte) error {
		n, _ := store.Uint64(k[len("demo/"):])
		fmt.Println(n, string(v))
		return nil
	})
	// Output:
	// 2 Outro
	// 1 Song
	// 0 Intro
}

func ExamplePrefixEnd() {
	fmt.Printf("%q %q %q\n", store.PrefixEnd([]byte("a/")), store.PrefixEnd([]byte("a\xff")), store.PrefixEnd([]byte("\xff")))
	// Output: "a0" "b" ""
}
