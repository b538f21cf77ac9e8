package crypto

import (
	"encoding/binary"
	"fmt"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// PlaysDomain prefixes the bytes a device signs over a batch of play
// events (PlaysMessage).
const PlaysDomain = "segue-plays-v1"

// PlaysMessage returns the bytes a device signs with its Ed25519 key to
// upload play events (POST /v1/plays, api.PlaysRequest), and that the
// relay verifies and keeps:
//
//	"segue-plays-v1" ‖ 0 ‖ u16 len ‖ device ‖ u32 count ‖ event…
//
// where each event is
//
//	u64 seq ‖ str track ‖ str tier ‖ str context kind ‖ str context id ‖
//	i64 started_at ‖ i64 played_ms ‖ str end_reason ‖ str source ‖
//	u8 flags (1 offline, 2 volume muted, 4 trusted time)
//
// with str = u16 len ‖ bytes and integers big-endian (i64 as two's
// complement). It is a pure function of its arguments; the returned slice
// is the caller's. It fails for a string longer than 65,535 bytes.
func PlaysMessage(device model.DeviceID, events []api.PlayRecord) ([]byte, error) {
	return AppendPlaysMessage(nil, device, events)
}

// AppendPlaysMessage appends PlaysMessage(device, events) to dst and
// returns the extended slice (dst may be reused across calls to save
// allocations); on error the returned slice is not a valid message.
func AppendPlaysMessage(dst []byte, device model.DeviceID, events []api.PlayRecord) ([]byte, error) {
	b := append(append(dst, PlaysDomain...), 0)
	var err error
	put := func(s string) {
		if len(s) > 0xffff {
			err = fmt.Errorf("crypto: play field of %d bytes", len(s))
			return
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	put(string(device))
	b = binary.BigEndian.AppendUint32(b, uint32(len(events)))
	for _, e := range events {
		b = binary.BigEndian.AppendUint64(b, e.Seq)
		put(string(e.Track))
		put(string(e.Tier))
		put(e.Context.Kind)
		put(e.Context.ID)
		b = binary.BigEndian.AppendUint64(b, uint64(e.StartedAt))
		b = binary.BigEndian.AppendUint64(b, uint64(e.PlayedMs))
		put(string(e.EndReason))
		put(string(e.Source))
		var f byte
		if e.Offline {
			f |= 1
		}
		if e.VolumeMuted {
			f |= 2
		}
		if e.TrustedTime {
			f |= 4
		}
		b = append(b, f)
	}
	return b, err
}
