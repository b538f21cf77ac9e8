//go:build js && wasm

package main

import (
	"fmt"
	"math"
	"strconv"
	"syscall/js"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
)

// maxWhole is the largest whole number a JavaScript number holds exactly
// (Number.MAX_SAFE_INTEGER): the bound of a start index or frame.
const maxWhole = 1<<53 - 1

// finite returns argument i of call as a finite number; anything else
// (absent, another type, NaN, ±Infinity) is an error naming what it is.
func finite(args []js.Value, i int, call, what string) (float64, error) {
	if i < len(args) && args[i].Type() == js.TypeNumber {
		if f := args[i].Float(); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("segue: %s: %s is not a finite number", call, what)
}

// whole returns argument i of call as a whole number in [0, maxWhole].
func whole(args []js.Value, i int, call, what string) (int64, error) {
	f, err := finite(args, i, call, what)
	if err != nil {
		return 0, err
	}
	if f < 0 || f > maxWhole || f != math.Trunc(f) {
		return 0, fmt.Errorf("segue: %s: %s %v is not a whole number from 0 to %d", call, what, f, int64(maxWhole))
	}
	return int64(f), nil
}

// seconds returns argument i of call, a finite number of seconds, as a
// duration, clamped to ±9e9 s (≈ 285 years, within time.Duration's
// range; seek clamps to the track, advanceClock refuses a step back or
// over 400 days).
func seconds(args []js.Value, i int, call string) (time.Duration, error) {
	f, err := finite(args, i, call, "seconds")
	if err != nil {
		return 0, err
	}
	const most = 9e9
	return time.Duration(max(-most, min(most, f)) * float64(time.Second)), nil
}

// trackIDs returns argument i of call, an array of at most maxTrackIDs
// strings, as track ids.
func trackIDs(args []js.Value, i int, call string) ([]model.TrackID, error) {
	if i >= len(args) || !js.Global().Get("Array").Call("isArray", args[i]).Bool() {
		return nil, fmt.Errorf("segue: %s: the track ids are not an array", call)
	}
	n := args[i].Length()
	if n > maxTrackIDs {
		return nil, fmt.Errorf("segue: %s: %d ids, at most %d", call, n, maxTrackIDs)
	}
	ids := make([]model.TrackID, n)
	for j := range ids {
		v := args[i].Index(j)
		if v.Type() != js.TypeString {
			return nil, fmt.Errorf("segue: %s: entry %d is not a string", call, j)
		}
		ids[j] = model.TrackID(v.String())
	}
	return ids, nil
}

// playIDs returns argument i of call as trackIDs does, refusing a list
// that holds no track id (empty, or no entry an id): such a play has
// nothing to play. Entries that are no ids among others are queued as
// they are, and the player skips them, as it does a track the relay
// does not know: one bad entry of a shared playlist does not make the
// rest unplayable.
func playIDs(args []js.Value, i int, call string) ([]model.TrackID, error) {
	ids, err := trackIDs(args, i, call)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("segue: %s: no track ids", call)
	}
	for _, id := range ids {
		if model.ValidID(string(id)) {
			return ids, nil
		}
	}
	return nil, fmt.Errorf("segue: %s: no entry is a track id", call)
}

// quoteArg returns argument i for an error message: a string quoted, cut
// to 64 bytes; else its JavaScript type.
func quoteArg(args []js.Value, i int) string {
	switch {
	case i >= len(args):
		return "no argument"
	case args[i].Type() == js.TypeString:
		return strconv.Quote(safetext.Cut(args[i].String(), 64))
	}
	return "a value of type " + args[i].Type().String()
}
