// Package ogg reads and writes the Ogg container (RFC 3533): pages with
// their CRC, packets reassembled across pages, granule positions, and
// multiplexed or chained logical streams.
//
// Parse one page from bytes with ParsePage, encode with AppendPage, or
// read packets from a stream:
//
//	r := ogg.NewReader(f)
//	for {
//		pkt, err := r.Next()
//		if err == io.EOF {
//			break
//		}
//		if err != nil {
//			return err
//		}
//		decode(pkt.Data) // valid until the next call to Next
//	}
//
// The package is pure Go with no allocations per packet in steady state,
// and it never panics on malformed input: bad bytes yield errors.
package ogg
