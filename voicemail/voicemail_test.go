package voicemail_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/peercall/peercall/internal/testutil"
	"io"
	"testing"

	pionopus "github.com/pion/opus"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/voicemail"
)

// sliceSource plays samples, then io.EOF.
type sliceSource struct{ s []int16 }

func (p *sliceSource) Read(_ context.Context, frame []int16) error {
	if len(p.s) == 0 {
		return io.EOF
	}
	clear(frame)
	n := copy(frame, p.s)
	p.s = p.s[n:]
	return nil
}

func (p *sliceSource) Close() error { return nil }

// independentDecode reads the file with pion's oggreader alone and decodes
// it with pion/opus (not the encoder's library).
func independentDecode(t *testing.T, ogg []byte) []int16 {
	t.Helper()
	r, head, err := oggreader.NewWith(bytes.NewReader(ogg))
	if err != nil || head.Channels != 1 || head.SampleRate != audio.SampleRate {
		t.Fatalf("oggreader: %+v, %v", head, err)
	}
	dec, err := pionopus.NewDecoderWithOutput(audio.SampleRate, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int16, 5760)
	var got []int16
	for {
		payload, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(payload, []byte("OpusTags")) {
			continue
		}
		n, err := dec.DecodeToInt16(payload, out)
		if err != nil {
			t.Fatalf("pion/opus: %v", err)
		}
		got = append(got, out[:n]...)
	}
}

// TestRecordAndDecode: the longest voice message fits its limit, and both
// our decoder and an independent one (oggreader + pion/opus) give back
// speech similar to what was recorded.
func TestRecordAndDecode(t *testing.T) {
	testutil.SkipOfflineUnderRace(t)
	sent := callharness.Speech("alice", 8)
	var long []int16
	for range 3 {
		long = append(long, sent...)
	}
	// A source longer than the limit stops at it, within the size limit.
	ogg, length, err := voicemail.Record(context.Background(), &sliceSource{s: long}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v of speech: %d bytes", length, len(ogg))
	if length != voicemail.MaxLength || len(ogg) > voicemail.MaxSize {
		t.Fatalf("recorded %v in %d bytes", length, len(ogg))
	}
	ogg, _, err = voicemail.Record(context.Background(), &sliceSource{s: sent}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := voicemail.Decode(ogg)
	if err != nil {
		t.Fatal(err)
	}
	for name, heard := range map[string][]int16{"gopus": ours, "pion/opus": independentDecode(t, ogg)} {
		sim := callharness.SegmentSimilarity(sent, heard)
		t.Logf("%s: similarity %.3f", name, sim)
		if sim < 0.9 {
			t.Errorf("%s decodes speech with similarity %.3f < 0.9", name, sim)
		}
	}
	if _, err := voicemail.Decode(ogg[:len(ogg)/2]); err == nil {
		t.Error("half a file decoded without an error")
	}
	if _, err := voicemail.Decode([]byte("not ogg")); err == nil {
		t.Error("garbage decoded")
	}
}

// TestFitsChat: a voice message's limits are chat's.
func TestFitsChat(t *testing.T) {
	if voicemail.MaxSize != chat.MaxVoice || voicemail.MaxLength != chat.MaxVoiceLength {
		t.Fatalf("voicemail %d bytes, %v; chat %d bytes, %v", voicemail.MaxSize, voicemail.MaxLength, chat.MaxVoice, chat.MaxVoiceLength)
	}
}
