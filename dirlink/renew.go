package dirlink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

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

// RenewAt is when cert is due for renewal: two thirds of its life.
func RenewAt(cert *crypto.Certificate) time.Time {
	return cert.Issued.Add(cert.Expires.Sub(cert.Issued) * 2 / 3)
}

func (l *Link) runRenewal(ctx context.Context) {
	var retry time.Duration
	for {
		cert, err := l.cfg.Home.Certificate()
		if err != nil {
			l.setRenewal(time.Time{}, time.Time{}, fmt.Errorf("read the saved certificate: %w", err))
			return
		}
		now := l.now()
		next := RenewAt(cert)
		if retry > 0 {
			wait := retry/2 + rand.N(retry/2+1)
			next = now.Add(wait)
		}
		if !cert.Expires.After(now) {
			l.setRenewal(time.Time{}, time.Time{}, fmt.Errorf("the certificate expired at %s; run `peercall login` for a new one", cert.Expires.UTC().Format(time.RFC3339)))
			return
		}
		l.setRenewal(time.Time{}, next, nil)
		t := time.NewTimer(max(next.Sub(now), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		renewed, _, err := l.cfg.Directory.Renew(rctx, l.cfg.Key, cert)
		cancel()
		if err == nil {
			err = l.cfg.Home.SaveCertificate(renewed)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			left := cert.Expires.Sub(l.now())
			retry = min(max(2*retry, renewRetryMin), renewRetryMax, max(left/10, renewRetryMin))
			if errors.Is(err, directory.ErrDisabled) || errors.Is(err, directory.ErrRevoked) {
				retry = min(renewRetryMax, max(left/4, renewRetryMin))
			}
			l.log.Warn("renew the certificate; calls and lookups stop working when it expires", "err", err,
				"expires", cert.Expires, "retry_in", retry.Round(time.Millisecond))
			l.setRenewal(time.Time{}, time.Time{}, err)
			continue
		}
		retry = 0
		l.log.Info("certificate renewed", "serial", renewed.Serial, "expires", renewed.Expires)
		l.setRenewal(l.now(), time.Time{}, nil)
		l.cfg.OnRenewed()
	}
}

// setRenewal records a renewal (last, when not zero), the next attempt
// (when not zero) and the last error; an error set stays until an attempt
// succeeds.
func (l *Link) setRenewal(last, next time.Time, err error) {
	l.renewal.mu.Lock()
	defer l.renewal.mu.Unlock()
	if !last.IsZero() {
		l.renewal.last, l.renewal.err = last, nil
	}
	if !next.IsZero() {
		l.renewal.next = next
	}
	if err != nil {
		l.renewal.err = err
	}
}

// RenewalStatus is the state of renewals (status).
type RenewalStatus struct {
	Last, Next time.Time // the last success and the next attempt
	Err        error     // the last attempt's error, until one succeeds
}

// RenewalStatus returns the state of renewals.
func (l *Link) RenewalStatus() RenewalStatus {
	l.renewal.mu.Lock()
	defer l.renewal.mu.Unlock()
	return RenewalStatus{Last: l.renewal.last, Next: l.renewal.next, Err: l.renewal.err}
}
