package automerge

/*
#include "automerge.h"

#cgo LDFLAGS: -L${SRCDIR}/deps
#cgo darwin,arm64 LDFLAGS: -lautomerge_core_darwin_arm64
#cgo darwin,amd64 LDFLAGS: -lautomerge_core_darwin_amd64
#cgo linux,arm64 LDFLAGS: -lautomerge_core_linux_arm64 -lm
#cgo linux,amd64 LDFLAGS: -lautomerge_core_linux_amd64 -lm
*/
import "C"
import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	_ "github.com/automerge/automerge-go/deps"
)

// result wraps an AMresult, and arranges for it to be AMfree'd after
// the result is garbage collected, unless free released it before.
type result struct {
	cResult *C.AMresult
}

func wrap(r *C.AMresult) *result {
	ret := &result{r}
	runtime.SetFinalizer(ret, (*result).finalize)
	return ret
}

func (r *result) finalize() { C.AMresultFree(r.cResult) }

// free releases r's C memory now instead of in its finalizer (segue
// fork). Neither r nor any item, value or pointer taken from it may be
// used afterwards; it is safe to call more than once.
func (r *result) free() {
	if r == nil || r.cResult == nil {
		return
	}
	runtime.SetFinalizer(r, nil)
	C.AMresultFree(r.cResult)
	r.cResult = nil
}

// copyOut returns f of r's single item and frees r: for results whose
// value f copies into Go memory (bytes, strings, hashes, scalars).
func copyOut[T any](r *result, f func(*item) T) T {
	defer r.free()
	return f(must(r.item()))
}

// copyAll returns f of each of r's items and frees r (see copyOut).
func copyAll[T any](r *result, f func(*item) T) ([]T, error) {
	defer r.free()
	items, err := r.items()
	if err != nil {
		return nil, err
	}
	return mapItems(items, f), nil
}

// copyHashes returns the change hashes of r, a result of hashes, and
// frees r at once (segue fork): one Go allocation for the slice and none
// per hash, no finalizer, as copyAll(wrap(r), (*item).changeHash) did
// with several per hash. An error result is returned as copyAll's.
func copyHashes(r *C.AMresult) ([]ChangeHash, error) {
	defer C.AMresultFree(r)
	switch C.AMresultStatus(r) {
	case C.AM_STATUS_OK:
	case C.AM_STATUS_ERROR:
		return nil, errors.New(fromByteSpanStr(C.AMresultError(r)))
	case C.AM_STATUS_INVALID_RESULT:
		return nil, errors.New("automerge: invalid result")
	default:
		return nil, errors.New("automerge: invalid result status")
	}
	items := C.AMresultItems(r)
	out := make([]ChangeHash, 0, int(C.AMitemsSize(&items)))
	var bs C.AMbyteSpan
	for {
		i := C.AMitemsNext(&items, 1)
		if i == nil {
			return out, nil
		}
		if !C.AMitemToChangeHash(i, &bs) {
			return nil, errors.New("automerge: expected a change hash")
		}
		out = append(out, hashFromSpan(bs))
	}
}

// hashFromSpan copies a change hash out of C memory (segue fork: no
// intermediate Go slice). bs must hold a hash (32 bytes).
func hashFromSpan(bs C.AMbyteSpan) ChangeHash {
	var h ChangeHash
	if int(bs.count) != len(h) {
		panic(fmt.Sprintf("automerge: change hash of %d bytes", bs.count))
	}
	copy(h[:], unsafe.Slice((*byte)(unsafe.Pointer(bs.src)), len(h)))
	return h
}

// voidFree checks that r is void and frees it.
func (r *result) voidFree() error {
	defer r.free()
	return r.void()
}

func (r *result) void() error {
	item, err := r.item()
	if err != nil {
		return err
	}
	if err == nil && item.Kind() != KindVoid {
		return fmt.Errorf("expected KindVoid, got: %s", item.Kind())
	}
	return nil
}

func (r *result) item() (*item, error) {
	items, err := r.items()
	if err != nil {
		return nil, err
	}
	if len(items) != 1 {
		return nil, fmt.Errorf("automerge: expected single return value, got %v", len(items))
	}
	return items[0], nil
}

func (r *result) items() ([]*item, error) {
	defer runtime.KeepAlive(r)

	switch C.AMresultStatus(r.cResult) {
	case C.AM_STATUS_OK:
		items := C.AMresultItems(r.cResult)
		ret := []*item{}
		for {
			i := C.AMitemsNext(&items, 1)
			if i == nil {
				break
			}

			ret = append(ret, &item{result: r, cItem: i})
		}
		return ret, nil
	case C.AM_STATUS_ERROR:
		msg := fromByteSpanStr(C.AMresultError(r.cResult))
		return nil, fmt.Errorf(msg)
	case C.AM_STATUS_INVALID_RESULT:
		return nil, fmt.Errorf("automerge: invalid result")
	default:
		return nil, fmt.Errorf("automerge: invalid result status")
	}
}

func must[T any](r T, e error) T {
	if e != nil {
		panic(e)
	}
	return r
}
