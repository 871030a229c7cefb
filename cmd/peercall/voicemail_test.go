package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pionopus "github.com/pion/opus"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/internal/callharness"
)

// TestCLIVoicemail: alice leaves bob a voice message (`voicemail bob
// --audio-in wav:...`) while his node is down; it arrives when his node
// starts, `inbox` lists it, `play ID --audio-out wav:...` plays it back
// with speech similarity >= 0.9 to what was recorded, and an independent
// decoder (pion's oggreader and pion/opus) reads the file as well.
func TestCLIVoicemail(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	nw.Start(aliceU, callharness.NodeOptions())
	bob := nw.Start(bobU, callharness.NodeOptions())
	if r := runHome(t, aliceU.Home, "chat", "bob", "I will call"); r.code != exitOK {
		t.Fatalf("chat: exit %d, %s", r.code, r.stderr)
	}
	nw.Stop(bob)
	wav, sent := writeSpeech(t, 6)
	// A call that finds bob offline leaves a voice message instead.
	r := runHome(t, aliceU.Home, "call", "bob", "--voicemail-on-miss", "--audio-in", "wav:"+wav, "--audio-out", "null")
	if r.code != exitOK || !strings.Contains(r.stdout, "queued for bob") || !strings.Contains(r.stderr, "offline") {
		t.Fatalf("call --voicemail-on-miss to bob offline: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	r = runHome(t, aliceU.Home, "voicemail", "bob", "--audio-in", "wav:"+wav, "--json")
	var v struct {
		Delivered bool `json:"delivered"`
		Bytes     int  `json:"bytes"`
		Message   struct {
			Kind  string `json:"kind"`
			State string `json:"state"`
		} `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != exitOK || v.Delivered || v.Message.Kind != "voice" || v.Message.State != "queued" {
		t.Fatalf("voicemail while bob is down: exit %d, %q (%v), %s", r.code, r.stdout, err, r.stderr)
	}
	start := time.Now()
	nw.Start(bobU, callharness.NodeOptions())
	var id int64
	for voices := 0; voices < 2; {
		r := runHome(t, bobU.Home, "inbox", "--json")
		var in struct {
			Messages []struct {
				Local int64  `json:"local"`
				Kind  string `json:"kind"`
				Peer  string `json:"peer"`
			} `json:"messages"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &in); err != nil {
			t.Fatalf("inbox --json: %q: %v", r.stdout, err)
		}
		voices = 0
		for _, m := range in.Messages {
			if m.Kind == "voice" && m.Peer == "alice" {
				id = m.Local
				voices++
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("not both voice messages in bob's inbox 30 s after his node started: %s", r.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("both voice messages (the second %d bytes) in bob's inbox %v after his node was started", v.Bytes, time.Since(start))
	if r := runHome(t, bobU.Home, "inbox"); !strings.Contains(r.stdout, "voice message, 6.0 s (peercall play") {
		t.Errorf("inbox: %s", r.stdout)
	}
	out := filepath.Join(t.TempDir(), "heard.wav")
	if r := runHome(t, bobU.Home, "play", "1000", "--audio-out", "null"); r.code == exitOK {
		t.Errorf("play of no such message: exit 0, %s", r.stdout)
	}
	if r := runHome(t, bobU.Home, "play", jsonNumber(id), "--audio-out", "wav:"+out); r.code != exitOK || !strings.Contains(r.stdout, "from alice") {
		t.Fatalf("play: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	heard, _, err := audio.ReadWAV(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sim := callharness.SegmentSimilarity(sent, heard); sim < 0.9 {
		t.Errorf("played back with similarity %.3f < 0.9", sim)
	} else {
		t.Logf("play: similarity %.3f", sim)
	}

	cc, err := control.Dial(bobU.Home)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cc.Do(ctx, control.Request{Op: control.OpVoiceAudio, MessageID: id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rd, head, err := oggreader.NewWith(bytes.NewReader(resp.Audio))
	if err != nil || head.Channels != 1 {
		t.Fatalf("oggreader: %+v %v", head, err)
	}
	dec, err := pionopus.NewDecoderWithOutput(audio.SampleRate, 1)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 5760)
	var indep []int16
	for {
		payload, _, err := rd.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(payload, []byte("OpusTags")) {
			continue
		}
		n, err := dec.DecodeToInt16(payload, pcm)
		if err != nil {
			t.Fatalf("pion/opus: %v", err)
		}
		indep = append(indep, pcm[:n]...)
	}
	if sim := callharness.SegmentSimilarity(sent, indep); sim < 0.9 {
		t.Errorf("pion/opus decodes the file with similarity %.3f < 0.9", sim)
	} else {
		t.Logf("pion/opus: similarity %.3f", sim)
	}
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }
