package store_test

import (
	"testing"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := store.NewMemory()
		if err := store.CheckSchema(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		return s
	})
}
