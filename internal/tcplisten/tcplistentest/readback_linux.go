//go:build linux

package tcplistentest

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// AcceptedUserTimeout dials ln, accepts the connection and returns the
// TCP_USER_TIMEOUT of its accepted side (ServerUserTimeout), for the
// tests of servers built on tcplisten.Listen. It fails t on any error.
func AcceptedUserTimeout(t testing.TB, ln net.Listener) time.Duration {
	t.Helper()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return ServerUserTimeout(t, client)
}

// ServerUserTimeout returns the TCP_USER_TIMEOUT of the server side of
// client's connection, a socket of this same process (a server the test
// runs in-process, however it wraps its listener): it looks through the
// process's descriptors for the socket whose local and peer addresses
// are client's, swapped, waiting up to 5 s for the server to accept it.
// It fails t when none turns up.
func ServerUserTimeout(t testing.TB, client net.Conn) time.Duration {
	t.Helper()
	local, ok1 := client.LocalAddr().(*net.TCPAddr)
	remote, ok2 := client.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		t.Fatalf("client %v → %v is not a TCP connection", client.LocalAddr(), client.RemoteAddr())
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range fds {
			fd, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if port(unix.Getsockname(fd)) != remote.Port || port(unix.Getpeername(fd)) != local.Port {
				continue
			}
			ms, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
			if err != nil {
				t.Fatalf("read TCP_USER_TIMEOUT of descriptor %d: %v", fd, err)
			}
			return time.Duration(ms) * time.Millisecond
		}
	}
	t.Fatalf("no socket of this process is the server side of %v → %v", client.LocalAddr(), client.RemoteAddr())
	return 0
}

// port is the port of an IP socket address, -1 for any other address
// or an error.
func port(sa unix.Sockaddr, err error) int {
	if err != nil {
		return -1
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	return -1
}
