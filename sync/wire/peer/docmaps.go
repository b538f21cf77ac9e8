package peer

import "github.com/segue-fm/segue/sync/docs"

// put sets (*m)[k] = v, making the map first when it is nil. A session's
// per-document sets that are empty in an idle session (dirty, requested,
// refusals, refusing, behind, last, paced) are made on first use and
// dropped once empty (drop): Go maps keep their grown buckets after
// deletes, and a relay's ten thousand idle sessions would each keep one
// per set for the documents their first sync touched.
func put[V any](m *map[docs.DocumentID]V, k docs.DocumentID, v V) {
	if *m == nil {
		*m = make(map[docs.DocumentID]V)
	}
	(*m)[k] = v
}

// drop deletes k from *m and sets *m to nil once it is empty.
func drop[V any](m *map[docs.DocumentID]V, k docs.DocumentID) {
	delete(*m, k)
	if len(*m) == 0 {
		*m = nil
	}
}
