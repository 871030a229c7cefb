// Package wire is the one strict binary reader and the one length framer that
// every peercall wire format shares (certificates, presence records, the
// dial-back and relay-credential protocols). Reader is a cursor over
// golang.org/x/crypto/cryptobyte that remembers the first error, wrapped
// with the format's own "malformed" sentinel, so a decoder reads every field
// and checks once; ReadFrame refuses a length prefix over the limit before it
// reads the body. Opening reads the first, certificate-bearing message of
// the streams chat, contacts and file transfer bind to their sender.
package wire
