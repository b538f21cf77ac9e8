package api

import "github.com/segue-fm/segue/core/model"

// PlaysCBOR is the media type of the compact form of POST /v1/plays: a
// request with this Content-Type carries a PlaysRequestWire and gets a
// PlaysAnswerWire back, both in CBOR; any other request is JSON
// (PlaysRequest, PlaysAnswer). Both forms are signed and validated alike.
const PlaysCBOR = "application/cbor"

// Play flags of PlayWire.Flags, the same bits as the signed message's
// flags byte (crypto.PlaysMessage). Other bits are refused.
const (
	FlagOffline     = 1
	FlagVolumeMuted = 2
	FlagTrustedTime = 4
	flagsKnown      = FlagOffline | FlagVolumeMuted | FlagTrustedTime
)

// PlayWire is a PlayRecord in the compact CBOR form: an array of its
// fields in the order of the signed message, the three booleans packed
// into Flags.
type PlayWire struct {
	_         struct{} `cbor:",toarray"`
	Seq       uint64
	Track     model.TrackID
	Tier      model.Tier
	CtxKind   string
	CtxID     string
	StartedAt int64
	PlayedMs  int64
	EndReason model.EndReason
	Source    model.PlaySource
	Flags     uint8
}

// WireOf returns e in the compact form.
func WireOf(e PlayRecord) PlayWire {
	var f uint8
	if e.Offline {
		f |= FlagOffline
	}
	if e.VolumeMuted {
		f |= FlagVolumeMuted
	}
	if e.TrustedTime {
		f |= FlagTrustedTime
	}
	return PlayWire{Seq: e.Seq, Track: e.Track, Tier: e.Tier, CtxKind: e.Context.Kind, CtxID: e.Context.ID,
		StartedAt: e.StartedAt, PlayedMs: e.PlayedMs, EndReason: e.EndReason, Source: e.Source, Flags: f}
}

// Record returns w as a PlayRecord; ok is false when Flags has a bit
// other than the three known ones.
func (w PlayWire) Record() (r PlayRecord, ok bool) {
	return PlayRecord{Seq: w.Seq, Track: w.Track, Tier: w.Tier, Context: model.PlayContext{Kind: w.CtxKind, ID: w.CtxID},
		StartedAt: w.StartedAt, PlayedMs: w.PlayedMs, EndReason: w.EndReason, Source: w.Source,
		Offline: w.Flags&FlagOffline != 0, VolumeMuted: w.Flags&FlagVolumeMuted != 0,
		TrustedTime: w.Flags&FlagTrustedTime != 0}, w.Flags&^flagsKnown == 0
}

// PlaysRequestWire is the CBOR body of POST /v1/plays (Content-Type
// PlaysCBOR): [sig, [event…]], Sig as in PlaysRequest.
type PlaysRequestWire struct {
	_      struct{} `cbor:",toarray"`
	Sig    []byte
	Events []PlayWire
}

// PlayResultWire is one PlayResult in the compact form: [seq, status].
type PlayResultWire struct {
	_      struct{} `cbor:",toarray"`
	Seq    uint64
	Status string
}

// PlaysAnswerWire is the CBOR answer of a CBOR upload: one result per
// event, in request order, like PlaysAnswer.
type PlaysAnswerWire struct {
	_       struct{} `cbor:",toarray"`
	Results []PlayResultWire
}
