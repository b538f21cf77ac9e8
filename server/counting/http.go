package counting

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// ErrBadSignature: the upload's signature does not verify with the
// calling device's key (401).
var ErrBadSignature = errors.New("counting: bad batch signature")

// Mount registers the counting routes on r (call before serving):
//
//	POST /v1/plays                         upload play events (device token, signed batch)
//	GET  /v1/admin/counts?track=&month=[&country=]  counted streams, per country (admin token)
//	PUT  /v1/admin/accounts/:user/country           set an account's country (admin token)
func (s *Service) Mount(r *relay.Server) {
	r.Mount(func(v1 *relay.DeviceRoutes) {
		v1.POST("/plays", s.plays)
	})
	admin := r.AdminGate(s.opts.adminToken)
	r.Echo().GET("/v1/admin/counts", s.counts, admin)
	r.Echo().PUT("/v1/admin/accounts/:user/country", s.setCountry, admin)
	if err := r.RegisterMetrics(s.met.collectors()...); err != nil {
		s.lg.Error("counting: metrics not registered", "err", err)
	}
}

// plays handles POST /v1/plays: the batch must be signed by the calling
// device (the device comes from its token, never from the body) and fit
// its quota (Options.WithDeviceQuota); each
// event is validated (fields, time bounds, catalog, release), its streams
// checked for overlaps with the device's (checkOverlaps), the valid ones
// appended durably, and the answer gives every event its final status.
// The body is JSON (api.PlaysRequest) or, with Content-Type
// api.PlaysCBOR, the compact CBOR form (api.PlaysRequestWire), answered
// in the same form.
func (s *Service) plays(c echo.Context) error {
	ctx := c.Request().Context()
	dev, _ := relay.DeviceFrom(c)
	compact := isCBOR(c.Request().Header.Get(echo.HeaderContentType))
	var req api.PlaysRequest
	var err error
	if compact {
		req, err = s.decodeCBOR(c)
	} else {
		err = relay.DecodeJSON(c, s.opts.maxBody, &req)
	}
	if err != nil {
		return err
	}
	if len(req.Events) == 0 {
		return fmt.Errorf("%w: no events", relay.ErrBadRequest)
	}
	if len(req.Events) > s.opts.maxEvents {
		return fmt.Errorf("%w: %d events, at most %d per batch", relay.ErrTooLarge, len(req.Events), s.opts.maxEvents)
	}
	msg, err := crypto.PlaysMessage(dev.ID, req.Events)
	if err != nil {
		return fmt.Errorf("%w: %v", relay.ErrBadRequest, err)
	}
	if len(dev.SignPub) != ed25519.PublicKeySize || !ed25519.Verify(dev.SignPub, msg, req.Sig) {
		return fmt.Errorf("%w: %w", relay.ErrUnauthorized, ErrBadSignature)
	}
	if err := s.quotas.take(dev.ID, len(req.Events), s.opts.mono()); err != nil {
		return err
	}
	now := s.opts.now()
	b, err := s.bounds(ctx, dev.User, now.UnixMilli())
	if err != nil {
		return err
	}
	res := make([]api.PlayResult, len(req.Events))
	for i, e := range req.Events {
		res[i].Seq = e.Seq
		if res[i].Status, err = s.validate(ctx, e, b); err != nil {
			return err
		}
	}
	if err := s.checkOverlaps(ctx, dev.ID, req.Events, res, now.UnixMilli()); err != nil {
		return err
	}
	valid := make([]api.PlayRecord, 0, len(req.Events))
	idx := make([]int, 0, len(req.Events))
	for i, e := range req.Events {
		if res[i].Status == "" {
			valid = append(valid, e)
			idx = append(idx, i)
		}
	}
	if len(valid) > 0 {
		out, err := s.log.Append(ctx, events.Batch{Device: dev.ID, User: dev.User, Received: now.UnixMilli(), Message: msg, Sig: req.Sig, Events: valid})
		if errors.Is(err, events.ErrNotStored) {
			// 503: nothing acknowledged, the device retries the batch.
			return fmt.Errorf("%w: append plays: %w", relay.ErrBusy, err)
		}
		if err != nil {
			return fmt.Errorf("append plays: %w", err)
		}
		for j, o := range out {
			switch o {
			case events.Appended:
				res[idx[j]].Status = api.PlayAccepted
			case events.Duplicate:
				res[idx[j]].Status = api.PlayDuplicate
			default:
				res[idx[j]].Status = api.PlaySeqConflict
			}
		}
	}
	var accepted, duplicates int
	for _, r := range res {
		switch r.Status {
		case api.PlayAccepted:
			accepted++
		case api.PlayDuplicate:
			duplicates++
		default:
			s.met.rejected.WithLabelValues(r.Status).Inc()
		}
	}
	s.met.accepted.Add(float64(accepted))
	s.met.duplicates.Add(float64(duplicates))
	if accepted > 0 {
		s.wake()
	}
	if err := s.auditRejections(ctx, dev, req.Events, res); err != nil {
		return err
	}
	s.lg.Debug("counting: plays uploaded", "device", dev.ID, "events", len(req.Events), "valid", len(valid))
	if compact {
		return s.answerCBOR(c, res)
	}
	return c.JSON(http.StatusOK, api.PlaysAnswer{Results: res})
}

// isCBOR reports whether the Content-Type ct is api.PlaysCBOR
// (parameters ignored).
func isCBOR(ct string) bool {
	if ct == api.PlaysCBOR {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == api.PlaysCBOR
}

// wireDec decodes the compact upload: strict (duplicate keys, indefinite
// lengths and tags refused), arrays up to 65,536 elements; the body limit
// bounds the total.
var wireDec = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 1 << 16, MaxMapPairs: 16}.StrictDecMode()

// decodeCBOR reads and decodes a compact upload (body at most maxBody).
func (s *Service) decodeCBOR(c echo.Context) (api.PlaysRequest, error) {
	// The buffer starts at the declared length (bounded by the limit), so
	// a body read grows it at most once.
	buf := bytes.NewBuffer(make([]byte, 0, min(max(c.Request().ContentLength, 0), s.opts.maxBody)+bytes.MinRead))
	_, err := buf.ReadFrom(http.MaxBytesReader(c.Response(), c.Request().Body, s.opts.maxBody))
	b := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return api.PlaysRequest{}, fmt.Errorf("%w: limit is %d bytes", relay.ErrTooLarge, s.opts.maxBody)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return api.PlaysRequest{}, fmt.Errorf("%w: body not received in time", relay.ErrRequestTimeout)
		}
		return api.PlaysRequest{}, fmt.Errorf("%w: read body: %v", relay.ErrBadRequest, err)
	}
	w, ok := decodeWireFast(b)
	if !ok {
		if err := wireDec.Unmarshal(b, &w); err != nil {
			return api.PlaysRequest{}, fmt.Errorf("%w: decode cbor: %v", relay.ErrBadRequest, err)
		}
	}
	req := api.PlaysRequest{Sig: w.Sig, Events: make([]api.PlayRecord, len(w.Events))}
	for i, e := range w.Events {
		r, ok := e.Record()
		if !ok {
			return api.PlaysRequest{}, fmt.Errorf("%w: event %d: unknown flags %#x", relay.ErrBadRequest, i, e.Flags)
		}
		req.Events[i] = r
	}
	return req, nil
}

// answerCBOR writes res as an api.PlaysAnswerWire.
func (s *Service) answerCBOR(c echo.Context, res []api.PlayResult) error {
	return c.Blob(http.StatusOK, api.PlaysCBOR, appendAnswerWire(nil, res))
}

// appendAnswerWire appends res encoded as an api.PlaysAnswerWire: the
// bytes cborx.Marshal gives, written without reflection
// (TestAnswerWireMatchesMarshal).
func appendAnswerWire(b []byte, res []api.PlayResult) []byte {
	b = cborx.AppendHead(append(b, 0x81), 4, uint64(len(res))) // [[[seq, status]…]]
	for _, r := range res {
		b = cborx.AppendHead(append(b, 0x82), 0, r.Seq)
		b = append(cborx.AppendHead(b, 3, uint64(len(r.Status))), r.Status...)
	}
	return b
}

// auditRejections appends every rejected event of an upload to the audit
// log (a retried upload's rejections are recorded again). A track that
// is not a valid catalog id (model.ValidID) is recorded as "", so a
// rejection record stays small whatever the upload held.
func (s *Service) auditRejections(ctx context.Context, dev relay.Device, evs []api.PlayRecord, res []api.PlayResult) error {
	if s.chain == nil {
		return nil
	}
	var rej []int
	for i, r := range res {
		if r.Status != api.PlayAccepted && r.Status != api.PlayDuplicate {
			rej = append(rej, i)
		}
	}
	if len(rej) == 0 {
		return nil
	}
	err := s.chain.Update(ctx, func(_ store.Txn, add func(audit.Record) error) error {
		for _, i := range rej {
			e := evs[i]
			track := string(e.Track)
			if !model.ValidID(track) {
				track = ""
			}
			r := audit.Record{Kind: audit.KindRejection, Device: string(dev.ID), User: string(dev.User), Seq: e.Seq,
				Track: track, Started: e.StartedAt, Played: e.PlayedMs, Reason: res[i].Status}
			if err := add(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit rejections: %w", err)
	}
	return nil
}

// bounds are the time limits of one upload's plays (Unix ms).
type bounds struct {
	// latest: no play may start or end after it (now + skew).
	latest int64
	// oldest: no play may start before it (too_old; Service.oldestStart).
	oldest int64
	// account: no play may start before it (before_account: the
	// account's creation less the skew; 0 when unknown).
	account int64
	// skew: the allowed clock skew, also before a release.
	skew int64
}

// bounds returns the time limits of an upload by user at nowMs.
func (s *Service) bounds(ctx context.Context, user model.UserID, nowMs int64) (bounds, error) {
	acct, err := s.accountStart(ctx, user)
	if err != nil {
		return bounds{}, err
	}
	skew := s.opts.skew.Milliseconds()
	return bounds{latest: nowMs + skew, oldest: s.oldestStart(nowMs), account: acct, skew: skew}, nil
}

// validate returns the rejection reason of e ("" when it is valid, as far
// as one event tells: overlaps are checkOverlaps'), or an error when the
// catalog cannot be read.
func (s *Service) validate(ctx context.Context, e api.PlayRecord, b bounds) (string, error) {
	if !e.Tier.Valid() || !e.EndReason.Valid() || !e.Source.Valid() ||
		len(e.Context.Kind) > api.MaxContextKind || len(e.Context.ID) > api.MaxContextID {
		return api.PlayBadField, nil
	}
	if e.PlayedMs < 0 || e.PlayedMs > api.MaxPlayMs || e.StartedAt <= 0 {
		return api.PlayBadDuration, nil
	}
	if e.StartedAt > b.latest || e.StartedAt+e.PlayedMs > b.latest {
		return api.PlayFuture, nil
	}
	if e.StartedAt < b.oldest {
		return api.PlayTooOld, nil
	}
	if e.StartedAt < b.account {
		return api.PlayBeforeAccount, nil
	}
	if !model.ValidID(string(e.Track)) {
		// No catalog has it; not cached (ids up to 64 KiB would fill
		// the track cache with the bodies of uploads).
		return api.PlayUnknownTrack, nil
	}
	t, err := s.tracks.get(ctx, e.Track)
	if err != nil {
		return "", err
	}
	if t.ms < 0 {
		return api.PlayUnknownTrack, nil
	}
	if e.PlayedMs*100 > t.ms*105 {
		return api.PlayTooLong, nil
	}
	if t.release != 0 && e.StartedAt < t.release-b.skew {
		return api.PlayNotReleased, nil
	}
	return "", nil
}

// CountsAnswer is the JSON answer of GET /v1/admin/counts. With a
// country filter Streams is that country's and Countries is absent;
// without one Streams is the track's total and Countries its split
// (UnknownCountry for accounts without a country).
type CountsAnswer struct {
	Track     model.TrackID     `json:"track"`
	Month     string            `json:"month"`
	Country   string            `json:"country,omitempty"`
	Streams   uint64            `json:"streams"`
	Countries map[string]uint64 `json:"countries,omitempty"`
}

// counts handles GET /v1/admin/counts?track=&month=[&country=].
func (s *Service) counts(c echo.Context) error {
	ctx := c.Request().Context()
	track, month, country := model.TrackID(c.QueryParam("track")), c.QueryParam("month"), c.QueryParam("country")
	switch {
	case track == "":
		return fmt.Errorf("%w: track required", relay.ErrBadRequest)
	case !model.ValidID(string(track)):
		return fmt.Errorf("%w: track %s: not a track id (at most %d bytes, no / or NUL)", relay.ErrBadRequest,
			relay.QuoteInput(string(track)), model.MaxIDLen)
	}
	if country != "" && country != UnknownCountry && !relay.ValidCountry(country) {
		return fmt.Errorf("%w: %w: %s", relay.ErrBadRequest, relay.ErrBadCountry, relay.QuoteInput(country))
	}
	n, err := s.TrackStreams(ctx, track, month)
	if errors.Is(err, ErrBadMonth) {
		return fmt.Errorf("%w: %w", relay.ErrBadRequest, err)
	}
	if err != nil {
		return err
	}
	per, err := s.CountryStreams(ctx, track, month)
	if err != nil {
		return err
	}
	if country != "" {
		return c.JSON(http.StatusOK, CountsAnswer{Track: track, Month: month, Country: country, Streams: per[country]})
	}
	return c.JSON(http.StatusOK, CountsAnswer{Track: track, Month: month, Streams: n, Countries: per})
}

// CountryRequest is the JSON body of PUT /v1/admin/accounts/:user/country:
// an ISO 3166-1 alpha-2 code, or "" to clear it.
type CountryRequest struct {
	Country string `json:"country"`
}

// SetCountry sets user's account country (relay.ValidCountry, or "" for
// none). Streams counted afterwards are counted under it; earlier counts
// keep the country they were counted under.
func (s *Service) SetCountry(ctx context.Context, user model.UserID, country string) error {
	if country != "" && !relay.ValidCountry(country) {
		return fmt.Errorf("%w: %w: %s", relay.ErrBadRequest, relay.ErrBadCountry, relay.QuoteInput(country))
	}
	return s.st.Update(ctx, func(tx store.Txn) error {
		b, err := tx.Get(relay.AccountKey(user))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: account %s", relay.ErrNotFound, relay.QuoteInput(string(user)))
		}
		if err != nil {
			return err
		}
		var a relay.Account
		if err := relay.DecodeRecord(b, &a); err != nil {
			return fmt.Errorf("decode account: %w", err)
		}
		a.Country = country
		val, err := cborx.Marshal(a)
		if err != nil {
			return fmt.Errorf("encode account: %w", err)
		}
		return tx.Set(relay.AccountKey(user), val)
	})
}

// setCountry handles PUT /v1/admin/accounts/:user/country.
func (s *Service) setCountry(c echo.Context) error {
	var req CountryRequest
	if err := relay.DecodeJSON(c, 4096, &req); err != nil {
		return err
	}
	user := model.UserID(c.Param("user"))
	if err := s.SetCountry(c.Request().Context(), user, req.Country); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"username": string(user), "country": req.Country})
}
