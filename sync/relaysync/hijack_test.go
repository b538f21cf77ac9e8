package relaysync

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// hijackable is a ResponseWriter whose Hijack returns a fixed connection
// and net/http-like 4 KiB buffers, with ahead already in the reader's
// buffer (bytes the client sent right after its request).
type hijackable struct {
	http.ResponseWriter
	conn  net.Conn
	ahead []byte
}

func (h *hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(h.ahead), h.conn), 4096)
	if len(h.ahead) > 0 {
		if _, err := r.Peek(len(h.ahead)); err != nil {
			return nil, nil, err
		}
	}
	return h.conn, bufio.NewReadWriter(r, bufio.NewWriterSize(h.conn, 4096)), nil
}

// TestSlimHijack: the hijacked connection gets buffers of connReadBuffer
// (or the bytes read ahead, if more) and connWriteBuffer bytes; the
// bytes net/http had read ahead stay buffered, where coder/websocket
// looks for them, and come first, before what the client sends next.
func TestSlimHijack(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ahead    []byte
		wantRead int
	}{
		{"nothing ahead", nil, connReadBuffer},
		{"a frame ahead", []byte("\x82\x85abcdhello"), connReadBuffer},
		{"more than the buffer ahead", bytes.Repeat([]byte("x"), 3*connReadBuffer), 3 * connReadBuffer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, client := net.Pipe()
			defer client.Close()
			conn, brw, err := slimHijacker{&hijackable{ResponseWriter: httptest.NewRecorder(), conn: server, ahead: tc.ahead}}.Hijack()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if got := brw.Reader.Size(); got != tc.wantRead {
				t.Errorf("reader size %d, want %d", got, tc.wantRead)
			}
			if got := brw.Writer.Size(); got != connWriteBuffer {
				t.Errorf("writer size %d, want %d", got, connWriteBuffer)
			}
			if got := brw.Reader.Buffered(); got != len(tc.ahead) {
				t.Errorf("%d bytes buffered, want the %d read ahead", got, len(tc.ahead))
			}
			go func() { _, _ = client.Write([]byte("next")) }()
			want := append(bytes.Clone(tc.ahead), "next"...)
			got := make([]byte, len(want))
			if _, err := io.ReadFull(brw.Reader, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read %q, want %q", got, want)
			}
		})
	}
}

// TestSlimHijackRefused: a ResponseWriter that cannot be hijacked is an
// error, as it is for net/http.
func TestSlimHijackRefused(t *testing.T) {
	_, _, err := slimHijacker{httptest.NewRecorder()}.Hijack()
	if !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("err %v, want http.ErrNotSupported", err)
	}
}

// TestSlimHijackOverHTTP: through a real net/http server, a client that
// sends its first frame in the same write as the upgrade request gets it
// read (whether net/http had buffered it or not).
func TestSlimHijackOverHTTP(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := slimHijacker{w}.Hijack()
		if err != nil {
			got <- "hijack: " + err.Error()
			return
		}
		defer conn.Close()
		b := make([]byte, len("first frame"))
		if _, err := io.ReadFull(brw, b); err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- string(b)
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: relay\r\n\r\nfirst frame")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "first frame" {
		t.Fatalf("server read %q", s)
	}
}
