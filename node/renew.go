package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
)

// A running node renews its certificate at two thirds of its life by
// proving possession of its key (no password, POST /v1/renew); a failure
// is retried after a jittered backoff from renewRetryMin, doubling up to
// renewRetryMax (and never past a tenth of the time left), until the
// certificate expires. The new certificate is saved in the home, where
// presence, INVITEs and check-ins read it.
const (
	renewRetryMin = time.Second
	renewRetryMax = 5 * time.Minute
)

type renewState struct {
	mu   sync.Mutex
	last time.Time // the last successful renewal
	next time.Time // the next attempt
	err  error     // the last attempt's error
}

// renewAt is when cert is due for renewal: two thirds of its life.
func renewAt(cert *crypto.Certificate) time.Time {
	return cert.Issued.Add(cert.Expires.Sub(cert.Issued) * 2 / 3)
}

// startRenewal renews the certificate until Close, when a directory is
// configured.
func (n *Node) startRenewal() {
	if n.dir == nil {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.runRenewal(n.ctx)
	}()
}

func (n *Node) runRenewal(ctx context.Context) {
	var retry time.Duration
	for {
		cert, err := n.home.Certificate()
		if err != nil {
			n.setRenewal(time.Time{}, time.Time{}, fmt.Errorf("read the saved certificate: %w", err))
			return
		}
		now := n.now()
		next := renewAt(cert)
		if retry > 0 {
			wait := retry/2 + rand.N(retry/2+1)
			next = now.Add(wait)
		}
		if !cert.Expires.After(now) {
			n.setRenewal(time.Time{}, time.Time{}, fmt.Errorf("the certificate expired at %s; run `peercall login` for a new one", cert.Expires.UTC().Format(time.RFC3339)))
			return
		}
		n.setRenewal(time.Time{}, next, nil)
		t := time.NewTimer(max(next.Sub(now), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		renewed, _, err := n.dir.Renew(rctx, n.key, cert)
		cancel()
		if err == nil {
			err = n.home.SaveCertificate(renewed)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			left := cert.Expires.Sub(n.now())
			retry = min(max(2*retry, renewRetryMin), renewRetryMax, max(left/10, renewRetryMin))
			if errors.Is(err, directory.ErrDisabled) || errors.Is(err, directory.ErrRevoked) {
				retry = min(renewRetryMax, max(left/4, renewRetryMin))
			}
			n.log.Warn("renew the certificate; calls and lookups stop working when it expires", "err", err,
				"expires", cert.Expires, "retry_in", retry.Round(time.Millisecond))
			n.setRenewal(time.Time{}, time.Time{}, err)
			continue
		}
		retry = 0
		n.log.Info("certificate renewed", "serial", renewed.Serial, "expires", renewed.Expires)
		n.setRenewal(n.now(), time.Time{}, nil)
		n.addrsMayHaveChanged() // republish presence with the new certificate
	}
}

// setRenewal records a renewal (last, when not zero), the next attempt
// (when not zero) and the last error; an error set stays until an attempt
// succeeds.
func (n *Node) setRenewal(last, next time.Time, err error) {
	n.renewal.mu.Lock()
	defer n.renewal.mu.Unlock()
	if !last.IsZero() {
		n.renewal.last, n.renewal.err = last, nil
	}
	if !next.IsZero() {
		n.renewal.next = next
	}
	if err != nil {
		n.renewal.err = err
	}
}

// identity is the certificate, renewal and check-in part of status.
func (n *Node) identity() *control.Identity {
	cert, err := n.home.Certificate()
	if err != nil {
		return nil
	}
	id := &control.Identity{CertificateSerial: cert.Serial, CertificateExpires: cert.Expires}
	n.renewal.mu.Lock()
	id.LastRenewal, id.NextRenewal = n.renewal.last, n.renewal.next
	if n.renewal.err != nil {
		id.RenewalError = n.renewal.err.Error()
	}
	n.renewal.mu.Unlock()
	id.Revocations, id.RevocationsFetched, id.RevocationsError = n.revocationStatus()
	ci := n.CheckinStatus()
	id.CheckedIn, id.ListedUntil = ci.Last, ci.Expires
	if ci.Err != nil {
		id.CheckinError = ci.Err.Error()
	}
	return id
}
