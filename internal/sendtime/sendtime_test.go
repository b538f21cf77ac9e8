package sendtime

import (
	"testing"
	"time"
)

func TestTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Limit
		n    int
		want time.Duration
	}{
		{"empty", Default, 0, 30 * time.Second},
		{"one second of bytes", Default, 32 << 10, 31 * time.Second},
		{"8 MiB", Default, 8 << 20, 30*time.Second + 256*time.Second},
		{"half a second", Limit{Grace: time.Second, Rate: 1000}, 500, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.l.Timeout(tc.n); got != tc.want {
				t.Fatalf("Timeout(%d) = %v, want %v", tc.n, got, tc.want)
			}
			now := time.Unix(1000, 0)
			if got := tc.l.Deadline(now, tc.n); !got.Equal(now.Add(tc.want)) {
				t.Fatalf("Deadline = %v, want %v", got, now.Add(tc.want))
			}
		})
	}
}
