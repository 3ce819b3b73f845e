// Package zmq is a minimal ZeroMQ subscriber (ZMTP 3.0, NULL security,
// a SUB socket over TCP), just enough to receive Bitcoin Core's ZMQ
// notifications (hashblock, hashtx, sequence, rawtx) without cgo or a
// ZeroMQ library. Each Core notification is a three-part message: the
// topic, the body (a hash or a raw transaction) and a little-endian
// sequence number.
package zmq
