package control

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/peercall/peercall/chat"
)

// TestDecodeChatRequest: the chat operations take exactly their fields.
func TestDecodeChatRequest(t *testing.T) {
	audio := `"` + strings.Repeat("A", 8) + `"` // base64 of 6 bytes
	for _, tc := range []struct {
		name, in string
		want     *Request // nil: refused
	}{
		{"send", `{"op":"chat_send","name":"bob","message":"hi\nthere"}`, &Request{Op: OpChatSend, Name: "bob", Message: "hi\nthere"}},
		{"send without text", `{"op":"chat_send","name":"bob"}`, nil},
		{"send with a control character", `{"op":"chat_send","name":"bob","message":"a\u001bb"}`, nil},
		{"send too long", `{"op":"chat_send","name":"bob","message":"` + strings.Repeat("x", chat.MaxText+1) + `"}`, nil},
		{"send with a call field", `{"op":"chat_send","name":"bob","message":"hi","call_id":"x"}`, nil},
		{"history", `{"op":"chat_history","name":"bob","limit":20}`, &Request{Op: OpChatHistory, Name: "bob", Limit: 20}},
		{"search", `{"op":"chat_history","search":"lunch"}`, &Request{Op: OpChatHistory, Search: "lunch"}},
		{"history of nobody", `{"op":"chat_history"}`, nil},
		{"history limit too large", `{"op":"chat_history","name":"bob","limit":10001}`, nil},
		{"inbox", `{"op":"inbox"}`, &Request{Op: OpInbox}},
		{"inbox with a name", `{"op":"inbox","name":"bob"}`, nil},
		{"watch", `{"op":"chat_watch","name":"bob"}`, &Request{Op: OpChatWatch, Name: "bob"}},
		{"voicemail", `{"op":"voicemail","name":"bob","audio":` + audio + `,"duration_ms":5000}`,
			&Request{Op: OpVoicemail, Name: "bob", Audio: make([]byte, 6), DurationMs: 5000}},
		{"voicemail too long", `{"op":"voicemail","name":"bob","audio":` + audio + `,"duration_ms":20001}`, nil},
		{"voicemail without audio", `{"op":"voicemail","name":"bob","duration_ms":5000}`, nil},
		{"voice audio", `{"op":"voice_audio","message_id":12}`, &Request{Op: OpVoiceAudio, MessageID: 12}},
		{"voice audio with a name", `{"op":"voice_audio","message_id":12,"name":"bob"}`, nil},
		{"status with a search", `{"op":"status","search":"x"}`, nil},
		{"call with audio", `{"op":"call","name":"bob","audio":` + audio + `}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.in))
			if tc.want == nil {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("got %+v, %v; want a refusal", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, *tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, *tc.want)
			}
		})
	}
}
