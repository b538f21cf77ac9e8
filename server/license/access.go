package license

import (
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/access"
)

// recordLicense queues one access.KindLicense record per entry of the
// license id just issued to dev (see Options.WithAccessWriter).
func (s *Server) recordLicense(dev model.DeviceID, id string, issued, expires time.Time, keys []crypto.LicenseKey) {
	w := s.opts.accessW
	if w == nil {
		return
	}
	for _, k := range keys {
		err := w.Write(access.Record{Kind: access.KindLicense, Time: issued.UnixMilli(), Device: dev,
			Track: k.TrackID, Tier: k.Tier, License: id, Expires: expires.UnixMilli()})
		if err != nil {
			s.log.Warn("license: access record not queued", "license", id, "err", err)
			return
		}
	}
}
