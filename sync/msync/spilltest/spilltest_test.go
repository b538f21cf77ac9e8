package spilltest_test

import (
	"testing"

	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/msync/spilltest"
)

func TestMem(t *testing.T) {
	spilltest.Run(t, func(*testing.T) msync.Spill { return spilltest.NewMem() })
}
