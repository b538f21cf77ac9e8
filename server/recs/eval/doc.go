// Package eval measures recommenders offline (issue 14 item 3): it reads
// the HetRec 2011 Last.fm listening data (lastfm-2k) from outside the
// repository at evaluation time, holds out a seeded fraction of every
// user's artists, and reports NDCG@10 and recall@50 over users for the
// scorers of package recs. The data are never copied into the repository:
// FindLastFM locates them from SEGUE_LASTFM_DIR or ../shared/data/lastfm-2k
// next to the repository.
//
// Splitting and metrics are pure; only LoadLastFM and FindLastFM touch the
// file system.
package eval
