package cborx

import "encoding/binary"

// AppendHead appends to b the head of a CBOR data item of major type
// major (0–7) with argument v in its shortest form (RFC 8949 §4.2.1), as
// the core deterministic encoding writes it, and returns the extended
// slice. Hand-written encoders of hot paths build their records with it
// and test that the bytes equal Marshal's.
func AppendHead(b []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(b, m|byte(v))
	case v <= 0xff:
		return append(b, m|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), v)
}

// AppendInt appends v as a CBOR integer (major type 0, or 1 for
// negatives) in its shortest form.
func AppendInt(b []byte, v int64) []byte {
	if v < 0 {
		return AppendHead(b, 1, uint64(-1-v))
	}
	return AppendHead(b, 0, uint64(v))
}

// AppendText appends s as a definite-length CBOR text string.
func AppendText(b []byte, s string) []byte {
	return append(AppendHead(b, 3, uint64(len(s))), s...)
}
