package royalties

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/segue-fm/segue/core/model"
)

// ErrHeldExceeds: an account's held streams of a track exceed the track's
// counted streams (counts and flags from different data).
var ErrHeldExceeds = errors.New("royalties: held streams exceed the counted streams")

// HeldLine is one flagged account's counted streams of one track, held
// out of the pool's divisor and listed apart; they are not deleted and
// can be paid later if the flag is lifted.
type HeldLine struct {
	User    model.UserID  `json:"user"`
	Track   model.TrackID `json:"track"`
	Streams uint64        `json:"streams"`
}

// Held is the statement's hold-out: the flagged accounts' streams.
type Held struct {
	Streams uint64     `json:"streams"`
	Lines   []HeldLine `json:"lines"`
}

// ComputeHeld is Compute with the streams of flagged accounts held out:
// held maps each flagged account to its counted streams per track in the
// month; they are subtracted from streams before the pool is split (so
// the revenue per stream is pool / unflagged streams) and returned in the
// statement's Held list, sorted by user then track. Pure; streams and
// held are not changed.
func ComputeHeld(month string, cur Currency, pool int64, streams map[model.TrackID]uint64, held map[model.UserID]map[model.TrackID]uint64) (Statement, Held, error) {
	left := make(map[model.TrackID]uint64, len(streams))
	for t, n := range streams {
		left[t] = n
	}
	var h Held
	for u, ts := range held {
		for t, n := range ts {
			if n == 0 {
				continue
			}
			if n > left[t] {
				return Statement{}, Held{}, fmt.Errorf("%w: %s has %d streams of %s, %d left counted", ErrHeldExceeds, u, n, t, left[t])
			}
			left[t] -= n
			h.Streams += n
			h.Lines = append(h.Lines, HeldLine{User: u, Track: t, Streams: n})
		}
	}
	slices.SortFunc(h.Lines, func(a, b HeldLine) int {
		if c := strings.Compare(string(a.User), string(b.User)); c != 0 {
			return c
		}
		return strings.Compare(string(a.Track), string(b.Track))
	})
	return Compute(month, cur, pool, left), h, nil
}

// CSV returns the hold-out as CSV: a header, then
// month,user,track,streams per line (text fields as cell makes them).
func (h Held) CSV(month string) []byte {
	return csvBytes([]string{"month", "user", "track", "streams"}, func(row func(...string)) {
		for _, l := range h.Lines {
			row(month, cell(string(l.User)), cell(string(l.Track)), strconv.FormatUint(l.Streams, 10))
		}
	})
}
