package node

import (
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/dirlink"
)

// newDirLink makes the node's link to the directory (package dirlink:
// check-ins, renewal, revocation list); start starts it, after the host
// and the super-node manager, and Close stops it.
func (n *Node) newDirLink() (err error) {
	n.link, err = dirlink.New(dirlink.Config{
		Directory: n.dir, Key: n.key, DirectoryKey: n.dirKey, Home: n.home,
		Certificate:       n.currentCertificate,
		Addrs:             n.presenceAddrs, // host and circuit addresses
		SuperNode:         func() bool { return n.relay != nil && n.relay.Promoted() },
		OnRenewed:         n.addrsMayHaveChanged, // republish presence with the new certificate
		RevocationRefresh: n.opts.RevocationRefresh,
		Logger:            n.log, Now: n.now,
	})
	return err
}

// revoked reports whether serial is on the directory's revocation list.
func (n *Node) revoked(serial uint64) bool { return n.link.Revoked(serial) }

// CheckinStatus returns the state of the node's check-ins.
func (n *Node) CheckinStatus() dirlink.CheckinStatus { return n.link.CheckinStatus() }

// identity is the certificate, renewal and check-in part of status.
func (n *Node) identity() *control.Identity {
	cert, err := n.home.Certificate()
	if err != nil {
		return nil
	}
	id := &control.Identity{CertificateSerial: cert.Serial, CertificateExpires: cert.Expires}
	rs := n.link.RenewalStatus()
	id.LastRenewal, id.NextRenewal = rs.Last, rs.Next
	if rs.Err != nil {
		id.RenewalError = rs.Err.Error()
	}
	id.Revocations, id.RevocationsFetched, id.RevocationsError = n.link.RevocationStatus()
	ci := n.link.CheckinStatus()
	id.CheckedIn, id.ListedUntil = ci.Last, ci.Expires
	if ci.Err != nil {
		id.CheckinError = ci.Err.Error()
	}
	return id
}
