package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/segue-fm/segue/server/blobstore/s3blob"
	"github.com/segue-fm/segue/server/catalog"
)

// blobS3Flags are the --blob-s3-* flags of `segue relay` and `segue
// ingest`: keep the relay's encrypted blobs in an S3 bucket
// (server/blobstore/s3blob) instead of its Badger store. Manifests, keys
// and the catalog stay in Badger.
type blobS3Flags struct {
	endpoint, bucket, region, prefix, accessKey, secretFile *string
	insecure                                                *bool
	timeout                                                 *time.Duration
	given                                                   map[string]bool
}

// maxSecretFile bounds --blob-s3-secret-key-file.
const maxSecretFile = 4 << 10

// addBlobS3Flags registers the flags on fs.
func addBlobS3Flags(fs *flag.FlagSet) *blobS3Flags {
	return &blobS3Flags{
		endpoint:   fs.String("blob-s3-endpoint", envOr("SEGUE_BLOB_S3_ENDPOINT", ""), "keep encrypted audio blobs in this S3-compatible endpoint, host[:port] (env SEGUE_BLOB_S3_ENDPOINT; default: the data directory's Badger)"),
		bucket:     fs.String("blob-s3-bucket", envOr("SEGUE_BLOB_S3_BUCKET", ""), "S3 bucket of the blobs, created when missing (env SEGUE_BLOB_S3_BUCKET)"),
		region:     fs.String("blob-s3-region", envOr("SEGUE_BLOB_S3_REGION", "us-east-1"), "S3 region of the bucket (env SEGUE_BLOB_S3_REGION)"),
		prefix:     fs.String("blob-s3-prefix", envOr("SEGUE_BLOB_S3_PREFIX", ""), "object name prefix of the blobs in the bucket, e.g. blobs/ (env SEGUE_BLOB_S3_PREFIX)"),
		accessKey:  fs.String("blob-s3-access-key", "", "S3 access key id (default env AWS_ACCESS_KEY_ID; none: anonymous)"),
		secretFile: fs.String("blob-s3-secret-key-file", "", "file holding the S3 secret key (default env AWS_SECRET_ACCESS_KEY)"),
		insecure:   fs.Bool("blob-s3-insecure", false, "talk plain HTTP to the S3 endpoint (loopback and tests only)"),
		timeout:    fs.Duration("blob-s3-timeout", 15*time.Second, "how long to wait for the S3 endpoint at start"),
	}
}

// set reports whether the relay's blobs are to be in S3.
func (f *blobS3Flags) set() bool { return *f.endpoint != "" }

// validate checks the flags after fs.Parse; errors wrap errUsage.
func (f *blobS3Flags) validate(fs *flag.FlagSet) error {
	f.given = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	if !f.set() {
		for _, n := range []string{"blob-s3-bucket", "blob-s3-region", "blob-s3-prefix", "blob-s3-access-key", "blob-s3-secret-key-file", "blob-s3-insecure", "blob-s3-timeout"} {
			if f.given[n] {
				return fmt.Errorf("%w: --%s needs --blob-s3-endpoint", errUsage, n)
			}
		}
		if *f.bucket != "" {
			return fmt.Errorf("%w: SEGUE_BLOB_S3_BUCKET is set but no S3 endpoint (--blob-s3-endpoint or SEGUE_BLOB_S3_ENDPOINT)", errUsage)
		}
		return nil
	}
	ep := *f.endpoint
	if strings.Contains(ep, "://") {
		return fmt.Errorf("%w: --blob-s3-endpoint %q: give host[:port] without a scheme (HTTPS; --blob-s3-insecure for plain HTTP)", errUsage, ep)
	}
	if strings.ContainsAny(ep, "/?#@ ") || !printable(ep) {
		return fmt.Errorf("%w: --blob-s3-endpoint %q: want host[:port]", errUsage, ep)
	}
	if err := checkBucket(*f.bucket); err != nil {
		return fmt.Errorf("%w: --blob-s3-bucket: %v", errUsage, err)
	}
	if p := *f.prefix; strings.HasPrefix(p, "/") || len(p) > 512 || !printable(p) {
		return fmt.Errorf("%w: --blob-s3-prefix %q: want at most 512 printable bytes, not starting with /", errUsage, p)
	}
	if *f.region == "" || len(*f.region) > 64 || !printable(*f.region) {
		return fmt.Errorf("%w: --blob-s3-region %q", errUsage, *f.region)
	}
	if *f.timeout <= 0 {
		return fmt.Errorf("%w: --blob-s3-timeout must be positive", errUsage)
	}
	return nil
}

// printable reports whether s is UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// checkBucket applies S3's bucket naming rules: 3–63 lowercase letters,
// digits, dots and hyphens, starting and ending with a letter or digit.
func checkBucket(b string) error {
	if b == "" {
		return errors.New("required with --blob-s3-endpoint")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("%q: 3 to 63 characters", b)
	}
	for i, r := range b {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (r != '.' && r != '-' || i == 0 || i == len(b)-1) {
			return fmt.Errorf("%q: lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", b)
		}
	}
	return nil
}

// credentials returns the access key and secret from the flags or the
// AWS_ environment variables: both or neither (anonymous).
func (f *blobS3Flags) credentials() (access, secret string, err error) {
	access = *f.accessKey
	if access == "" {
		access = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if *f.secretFile != "" {
		fi, err := os.Stat(*f.secretFile)
		if err != nil {
			return "", "", fmt.Errorf("--blob-s3-secret-key-file: %w", err)
		}
		if !fi.Mode().IsRegular() || fi.Size() > maxSecretFile {
			return "", "", fmt.Errorf("--blob-s3-secret-key-file %s: want a regular file of at most %d bytes", *f.secretFile, maxSecretFile)
		}
		b, err := os.ReadFile(*f.secretFile)
		if err != nil {
			return "", "", fmt.Errorf("--blob-s3-secret-key-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
		if secret == "" {
			return "", "", fmt.Errorf("--blob-s3-secret-key-file %s is empty", *f.secretFile)
		}
	} else {
		secret = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if (access == "") != (secret == "") {
		return "", "", fmt.Errorf("%w: an S3 access key and secret go together (--blob-s3-access-key or AWS_ACCESS_KEY_ID, --blob-s3-secret-key-file or AWS_SECRET_ACCESS_KEY)", errUsage)
	}
	return access, secret, nil
}

// id names the bucket and prefix for the data directory's record
// (catalog.DataDirOptions.WithBlobs): the endpoint may change, the
// bucket and prefix may not.
func (f *blobS3Flags) id() string { return "s3:" + *f.bucket + "/" + *f.prefix }

// apply connects to the bucket (creating it when missing) and returns
// opts keeping the catalog's blobs there; without --blob-s3-endpoint it
// returns opts as they are. The secret is never logged or printed.
func (f *blobS3Flags) apply(ctx context.Context, opts catalog.DataDirOptions, log *slog.Logger) (catalog.DataDirOptions, error) {
	if !f.set() {
		return opts, nil
	}
	access, secret, err := f.credentials()
	if err != nil {
		return opts, err
	}
	o := s3blob.DefaultOptions(*f.endpoint, *f.bucket).WithRegion(*f.region).WithPrefix(*f.prefix).WithInsecure(*f.insecure)
	if access != "" {
		o = o.WithCredentials(access, secret)
	}
	cctx, cancel := context.WithTimeout(ctx, *f.timeout)
	defer cancel()
	bs, err := s3blob.New(cctx, o)
	if err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %v (--blob-s3-timeout): %w", *f.timeout, err)
		}
		return opts, fmt.Errorf("blob store s3 endpoint %s bucket %s: %w", *f.endpoint, *f.bucket, err)
	}
	log.Info("encrypted blobs in S3", "endpoint", *f.endpoint, "bucket", *f.bucket, "prefix", *f.prefix, "https", !*f.insecure, "anonymous", access == "")
	return opts.WithBlobs(bs, f.id()), nil
}

// check refuses a data directory whose blobs are in an external store
// when the flags did not open it.
func (f *blobS3Flags) check(dd *catalog.DataDir) error {
	if dd.BlobStore != "" && !f.set() {
		return fmt.Errorf("%w: %s keeps its blobs in %s: give the same --blob-s3-endpoint, --blob-s3-bucket and --blob-s3-prefix", catalog.ErrBlobsNotOpened, dd.Dir, dd.BlobStore)
	}
	return nil
}
