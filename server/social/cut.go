package social

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/segue-fm/segue/player/ogg"
	"github.com/segue-fm/segue/player/vorbis"
)

// errCut marks a stream cutPreview cannot cut.
var errCut = errors.New("social: cannot cut preview")

// previewPageBody is the body size at which cutPreview starts a new page.
const previewPageBody = 4096

// cutPreview cuts the Ogg Vorbis stream (header pages, then audio pages
// from the start of the track; it may stop anywhere after limit frames)
// after the packet that completes frame limit. It returns the header
// pages as they are (aliasing stream), the audio pages of the cut
// (freshly paged: ≤ 4 KiB bodies, the stream's serial, sequence numbers
// following the header's, the last page flagged end-of-stream with the
// granule that trims the decoder's output to exactly frames), and frames
// = min(limit, the stream's length). Packet boundaries come from the
// Vorbis block sizes (no audio is decoded), so a decoder of header ‖
// audio outputs exactly the first frames frames of the whole stream.
func cutPreview(stream []byte, limit int64) (header, audio []byte, frames int64, err error) {
	if limit <= 0 {
		return nil, nil, 0, fmt.Errorf("%w: limit %d", errCut, limit)
	}
	// The header pages: up to the page on which the third packet ends.
	var serial, seq uint32
	off, packets := 0, 0
	for packets < 3 {
		p, n, err := ogg.ParsePage(stream[off:])
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%w: header page: %w", errCut, err)
		}
		serial, seq = p.Serial, p.Sequence
		for _, l := range p.Segments {
			if l < 255 {
				packets++
			}
		}
		off += n
	}
	if packets != 3 {
		return nil, nil, 0, fmt.Errorf("%w: audio shares the setup header's page", errCut)
	}
	header = stream[:off]

	type packet struct {
		data  []byte
		count int64 // decoder output count after this packet, before trimming
	}
	dec := vorbis.NewDecoder(vorbis.DefaultOptions())
	r := ogg.NewReader(bytes.NewReader(stream))
	var (
		pkts              []packet
		prev              = -1
		count             int64
		delta             int64 // first granule - count there: < 0 trims the start
		haveDelta, eosEnd bool
		end               int64 // eos granule
	)
	for {
		pk, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%w: %w", errCut, err)
		}
		if pk.Serial != serial || pk.Hole {
			return nil, nil, 0, fmt.Errorf("%w: not one contiguous stream", errCut)
		}
		if !dec.Ready() {
			if err := dec.ReadHeader(pk.Data); err != nil {
				return nil, nil, 0, fmt.Errorf("%w: %w", errCut, err)
			}
			continue
		}
		bs, err := dec.BlockSize(pk.Data)
		if errors.Is(err, vorbis.ErrNotAudio) {
			continue // skipped by decoders too
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%w: %w", errCut, err)
		}
		if prev >= 0 {
			count += int64(prev/4 + bs/4)
		}
		prev = bs
		pkts = append(pkts, packet{data: bytes.Clone(pk.Data), count: count})
		if pk.Granule >= 0 && !haveDelta {
			delta, haveDelta = pk.Granule-count, true
		}
		if pk.EOS {
			eosEnd, end = true, pk.Granule
			break
		}
		if haveDelta && count+min(delta, 0) >= limit {
			break
		}
	}
	if !haveDelta {
		return nil, nil, 0, fmt.Errorf("%w: no granule position", errCut)
	}
	frames = limit
	switch last := pkts[len(pkts)-1].count + min(delta, 0); {
	case eosEnd:
		frames = min(limit, end-max(delta, 0))
	case last < limit:
		return nil, nil, 0, fmt.Errorf("%w: stream holds %d frames, want %d", errCut, last, limit)
	}
	// Keep packets up to the first whose output reaches frames.
	keep := len(pkts)
	for i, p := range pkts {
		if p.count+min(delta, 0) >= frames {
			keep = i + 1
			break
		}
	}
	pkts = pkts[:keep]
	var page ogg.Page
	page.Serial = serial
	flush := func(granule int64, flags byte) error {
		seq++
		page.Sequence, page.Granule, page.Flags = seq, granule, flags
		var err error
		audio, err = ogg.AppendPage(audio, &page)
		page.Segments, page.Body = page.Segments[:0], page.Body[:0]
		return err
	}
	for i, p := range pkts {
		lacing := ogg.Lacing(len(p.data))
		if len(lacing) > 255 {
			return nil, nil, 0, fmt.Errorf("%w: %w", errCut, ogg.ErrPacketSpan)
		}
		if len(page.Segments)+len(lacing) > 255 || len(page.Body) > 0 && len(page.Body)+len(p.data) > previewPageBody {
			if err := flush(pkts[i-1].count+delta, 0); err != nil {
				return nil, nil, 0, err
			}
		}
		page.Segments = append(page.Segments, lacing...)
		page.Body = append(page.Body, p.data...)
	}
	if err := flush(frames+max(delta, 0), ogg.FlagEOS); err != nil {
		return nil, nil, 0, err
	}
	return header, audio, frames, nil
}
