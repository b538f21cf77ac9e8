package badgerstore_test

import (
	"context"
	"fmt"
	"os"

	"github.com/segue-fm/segue/store/badgerstore"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "segue-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	s, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if err := s.Set(ctx, []byte("greeting"), []byte("hello")); err != nil {
		panic(err)
	}
	v, err := s.Get(ctx, []byte("greeting"))
	fmt.Println(string(v), err)
	// Output: hello <nil>
}
