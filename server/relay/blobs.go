package relay

import "github.com/segue-fm/segue/server/blobstore"

// WithBlobs keeps the encrypted audio blobs of the data directory New
// opens in bs, an external blob store named id (for example an S3 bucket,
// server/blobstore/s3blob; see catalog.DataDirOptions.WithBlobs for how
// the directory records it). Default: nil, the data directory's Badger.
// Manifests, keys and the catalog stay in Badger. NewWithDataDir takes
// the data directory as it was opened.
func (o Options) WithBlobs(bs blobstore.Store, id string) Options {
	o.blobs, o.blobsID = bs, id
	return o
}
