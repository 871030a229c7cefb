package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// writerHelperEnv, when set to a database URL, makes the test binary a
// writer that registers users and prints each name once CreateUser returned
// nil, until it is killed.
const writerHelperEnv = "PEERCALL_STORE_WRITER_HELPER_DSN"

// runWriterHelper is the killed child of TestKilledWriterKeepsAcknowledged.
// It stops by itself after 10,000 users or a minute, should nobody kill it.
func runWriterHelper(dsn string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := range 10000 {
		name := fmt.Sprintf("user%05d", i)
		if err := s.CreateUser(ctx, user(name)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(name) // os.Stdout is unbuffered: this is the acknowledgement
	}
	os.Exit(0)
}

// TestKilledWriterKeepsAcknowledged kills (SIGKILL) a process in the middle
// of registering users and checks that every registration it acknowledged
// is in the database afterwards. (A power cut is not simulated: for that the
// stores rely on fsync, synchronous=FULL in SQLite and synchronous_commit in
// PostgreSQL, which TestSQLiteSettings checks for SQLite.)
func TestKilledWriterKeepsAcknowledged(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.require(t)
			dsn := b.newDSN(t)
			openStore(t, dsn).Close() // create the schema before timing starts

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), writerHelperEnv+"="+dsn)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatalf("start writer: %v", err)
			}
			killed := false
			timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
			defer timer.Stop()
			var acked []string
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				acked = append(acked, sc.Text())
				if len(acked) == 30 && !killed {
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			}
			// Lines already in the pipe when the kill landed were
			// acknowledged too: the loop above read them all.
			err = cmd.Wait()
			if !killed {
				t.Fatalf("writer ended before it was killed (%v) after %d users", err, len(acked))
			}
			if len(acked) < 30 {
				t.Fatalf("writer acknowledged only %d users", len(acked))
			}

			s := openStore(t, dsn)
			taken, err := s.Taken(context.Background(), acked)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range acked {
				if !taken[name] {
					t.Errorf("acknowledged registration %q was lost when the writer was killed", name)
				}
			}
			t.Logf("%d acknowledged registrations survived SIGKILL", len(acked))
		})
	}
}
