// Package p2p syncs documents directly between devices on one network
// over libp2p, with or without the relay: TCP + Noise + yamux, QUIC v1
// as a second listener, a fresh Ed25519 key per node as libp2p identity
// (the peer id names no device across starts), mDNS discovery where the network allows multicast and manual peer
// entry by multiaddr always.
//
// Protocol /segue/sync/3, one stream per pair of devices: first a key
// proof (below), then the dialler writes its device certificate (4-byte big-endian length, ≤ 4 KiB;
// a catalog-signed {user, device id, sign_pub}, see crypto.IssueDeviceCert)
// and its device key with the key's signature of the stream (domain,
// role, the key proof's nonce, both peer ids), checked against the
// certificate, and the dialled side answers with its own once the
// dialler's passed; then the automerge-repo messages
// of sync/wire, framed as 4-byte big-endian length + CBOR (1 MiB cap),
// served by a peer.Session with peer.DocumentAccess: a library syncs
// only between its owner's devices, a playlist with its owner and
// collaborators (anyone may read a public one; nobody else may change it).
//
// The key proof: the dialler proves with HMACs over a fresh nonce that
// it holds a LAN key (WithLANKeys) the dialled side holds, and the
// dialled side proves it back, so neither names its account to a host
// that holds no key in common (a stranger, or a device of an account it
// shares nothing with).
//
//	n, err := p2p.New(ctx, identity, cert, catalogPub, peer.NewRepoAdapter(r), p2p.DefaultOptions().WithLANKeys(keys...))
//	defer n.Close()
//	fmt.Println(n.Addrs())                  // give one to the other device
//	err = n.Connect(ctx, "/ip4/192.168.1.7/tcp/4001/p2p/12D3KooW…")
//	for _, p := range n.Peers() { … }        // user, device, last sync
package p2p
