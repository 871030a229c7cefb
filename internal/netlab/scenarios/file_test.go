package scenarios

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/netlab"
)

// fileSize is the scenario's file: a few MiB in the default run (carol's
// link held at fileRate so that half-way can be caught), 200 MiB at full
// speed with PEERCALL_LONG=1 (make long).
const (
	fileSizeShort = 6 << 20
	fileRate      = 16_000_000 // bit/s
	fileSizeLong  = 200 << 20
	fileWait      = 5 * time.Minute
)

// sendReport is `send --json`'s report (docs/cli.md).
type sendReport struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ResumedFrom int64  `json:"resumed_from"`
	Sent        int64  `json:"sent"`
	Resent      int64  `json:"resent"`
	Attempts    int    `json:"attempts"`
	Result      struct {
		Status int    `json:"status"` // 0 released
		Name   string `json:"name"`
		Reason string `json:"reason"`
	} `json:"result"`
}

// fileThrough443 is the file transfer part of scenario 4: carol, behind
// the firewall that lets only TCP 443 out, sends a file to bob (who takes
// files from her without asking) over the libp2p connection to his 443.
// Her node is killed (kill -9) when bob holds half of it; restarted, a new
// send resumes from what bob kept, reports the bytes sent again, and bob's
// released file is byte for byte hers.
func fileThrough443(w *world, carol, bob *user, carolSays string) {
	t := w.t
	size := fileSizeShort
	if os.Getenv("PEERCALL_LONG") != "" {
		size = fileSizeLong
	} else if err := carol.host.Impair(netlab.Impairment{Rate: fileRate}); err != nil {
		t.Fatal(err)
	} else {
		defer func() { _ = carol.host.Impair(netlab.Impairment{}) }()
	}
	src := filepath.Join(t.TempDir(), "payload.bin")
	want := writeRandom(t, src, size)

	ctx, cancel := context.WithTimeout(t.Context(), fileWait)
	defer cancel()
	first := make(chan cliResult, 1)
	started := time.Now()
	go func() {
		r, _ := carol.cli(ctx, "", "send", "bob", src, "--json")
		first <- r
	}()
	quarantine := filepath.Join(bob.home, home.QuarantineDir)
	for half := int64(size / 2); ; time.Sleep(10 * time.Millisecond) {
		if partSize(quarantine) >= half {
			break
		}
		select {
		case r := <-first:
			t.Fatalf("carol's send ended before bob had half of the file: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		case <-ctx.Done():
			t.Fatalf("bob did not get half of the file within %v", fileWait)
		default:
		}
	}
	killedAt := partSize(quarantine)
	carol.node.Kill()
	if r := <-first; r.code == 0 {
		t.Fatalf("carol's send succeeded though her node was killed at %d of %d bytes: %s", killedAt, size, r.stdout)
	}
	carol.run(carolSays, "--relay", "auto")
	r := carol.must(ctx, "", "send", "bob", src, "--json")
	var rep sendReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("send --json: %v\n%s", err, r.stdout)
	}
	wall := time.Since(started)
	t.Logf("%d MiB through the 443-only firewall: killed with %d bytes at bob, resumed from %d, %d bytes sent again, %d sent by the second send, %v in all",
		size>>20, killedAt, rep.ResumedFrom, rep.Resent, rep.Sent, wall.Round(time.Millisecond))
	if rep.Result.Status != 0 || rep.Size != int64(size) {
		t.Fatalf("second send: %+v; want the whole file released", rep)
	}
	if rep.ResumedFrom <= 0 || rep.ResumedFrom > int64(size) || rep.Sent != int64(size)-rep.ResumedFrom {
		t.Errorf("second send resumed from %d and sent %d of %d bytes: want a resume from what bob kept, and only the rest sent", rep.ResumedFrom, rep.Sent, size)
	}
	got := fileSHA(t, filepath.Join(bob.home, home.ReceivedDir, rep.Result.Name))
	if got != want {
		t.Errorf("bob's released %s differs from what carol sent", rep.Result.Name)
	}
}

// writeRandom writes size random bytes to path and returns their SHA-256.
func writeRandom(t interface{ Fatal(...any) }, path string, size int) [32]byte {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, int64(size)); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func fileSHA(t interface{ Fatal(...any) }, path string) [32]byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// partSize is the size of the largest file being received in dir.
func partSize(dir string) int64 {
	ms, _ := filepath.Glob(filepath.Join(dir, "*.part"))
	var n int64
	for _, m := range ms {
		if fi, err := os.Stat(m); err == nil {
			n = max(n, fi.Size())
		}
	}
	return n
}
