// Package search is the relay's catalog search: GET /v1/search and the
// catalog metadata import over a core/searchindex index (its types are
// re-exported here), kept up to date with the published catalog.
package search
