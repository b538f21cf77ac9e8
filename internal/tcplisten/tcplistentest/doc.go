// Package tcplistentest reads back what tcplisten set on accepted
// connections, for the tests of the servers built on it (Linux only).
package tcplistentest
