package server

import (
	"crypto/ed25519"
	"math/big"
)

// peerID is the libp2p peer ID of an ed25519 key, text form: the base58btc
// identity multihash of the protobuf-encoded public key (the libp2p spec's
// rule for keys of at most 42 bytes). Computed here so that the server does
// not link go-libp2p; a test checks it against libp2p's own.
func peerID(pub ed25519.PublicKey) string {
	// PublicKey{Type: Ed25519 (1), Data: 32 bytes} in protobuf.
	pb := append([]byte{0x08, 0x01, 0x12, 0x20}, pub...)
	mh := append([]byte{0x00, byte(len(pb))}, pb...) // identity multihash
	return base58(mh)
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

func base58(b []byte) string {
	n := new(big.Int).SetBytes(b)
	radix, mod := big.NewInt(58), new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, base58Alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}
