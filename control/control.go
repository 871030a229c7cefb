package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/transfer"
)

// MaxMessage bounds one control request or response line.
const MaxMessage = 64 << 10

// Control operations.
const (
	OpStatus = "status"
	OpCall   = "call"
	OpHangup = "hangup"
	OpAnswer = "answer"
	OpReject = "reject"
	OpCalls  = "calls"
)

// Request is one request on the control socket: a JSON object on
// one line. Fields an operation does not use must be empty.
type Request struct {
	Op string `json:"op"`
	// Name is the user to call (call).
	Name string `json:"name,omitempty"`
	// CallID names a call (hangup, answer, reject); empty means the only
	// call.
	CallID string `json:"call_id,omitempty"`
	// DurationMs hangs the call up after this long (call; 0: until the
	// client disconnects).
	DurationMs int64 `json:"duration_ms,omitempty"`
	// AudioIn and AudioOut are device specs (call), file paths absolute.
	AudioIn  string `json:"audio_in,omitempty"`
	AudioOut string `json:"audio_out,omitempty"`
	// ForceRelay sends the call's media through a super-node (call).
	ForceRelay bool `json:"force_relay,omitempty"`
	// DSPOff turns stages of the microphone's processing off for the call
	// ("aec", "ns", "agc", "hpf"; call).
	DSPOff []string `json:"dsp_off,omitempty"`
	// Path is the file to send (send; absolute) and TransferID an offer
	// (accept_file, refuse_file): control/transfer.go.
	Path       string `json:"path,omitempty"`
	TransferID string `json:"transfer_id,omitempty"`
	// Action, Message, Status and Mood are the contact list's fields
	// (softphone.go).
	Action  string  `json:"action,omitempty"`
	Message string  `json:"message,omitempty"`
	Status  string  `json:"status,omitempty"`
	Mood    *string `json:"mood,omitempty"`
}

// Response is one line the node answers. A call request gets event
// lines ("ringing", "connected") and then a final line; every other request
// gets the final line only. Done marks the final line; Error (a code) and
// Message are set when the request failed.
type Response struct {
	Done    bool           `json:"done"`
	Event   call.EventKind `json:"event,omitempty"`
	Call    *call.Info     `json:"call,omitempty"`
	Error   string         `json:"error,omitempty"`
	Message string         `json:"message,omitempty"`
	Status  *Status        `json:"status,omitempty"`
	Calls   []call.Info    `json:"calls,omitempty"`
	Result  *call.Result   `json:"result,omitempty"`
	// File transfer (control/transfer.go).
	Transfer  *transfer.Event  `json:"transfer,omitempty"`
	Transfers []transfer.Event `json:"transfers,omitempty"`
	Report    *transfer.Report `json:"report,omitempty"`
	softphoneResponse
}

// Control error codes (Response.Error).
const (
	CodeUnknownUser = "unknown_user"
	CodeOffline     = "offline"
	CodeRejected    = "rejected"
	CodeBusy        = "busy"
	CodeNoAnswer    = "no_answer"
	CodeAuth        = "auth"
	CodeBadRequest  = "bad_request"
	CodeNoSuchCall  = "no_such_call"
	CodeAudio       = "audio"
	CodeFailed      = "failed"
)

// ErrBadRequest wraps every DecodeRequest error.
var ErrBadRequest = errors.New("bad control request")

// DecodeRequest decodes one request strictly: at most
// MaxMessage bytes, one JSON object, no unknown fields, a known
// operation with exactly the fields it uses.
func DecodeRequest(data []byte) (Request, error) {
	var req Request
	if len(data) > MaxMessage {
		return req, fmt.Errorf("%w: %d bytes, limit %d", ErrBadRequest, len(data), MaxMessage)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, fmt.Errorf("%w: data after the JSON object", ErrBadRequest)
	}
	if err := req.validate(); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return req, nil
}

// validate checks the fields against the operation.
func (r Request) validate() error {
	const maxField = 4096
	for _, f := range []string{r.Name, r.CallID, r.AudioIn, r.AudioOut} {
		if len(f) > maxField {
			return fmt.Errorf("a field is longer than %d bytes", maxField)
		}
	}
	if ok, err := r.validateMedia(); ok {
		return err
	}
	if ok, err := r.validateSoftphone(); ok {
		return err
	}
	if r.Op == OpDevice {
		return r.validateDevice()
	}
	callFields := r.Name != "" || r.DurationMs != 0 || r.AudioIn != "" || r.AudioOut != "" || r.ForceRelay || r.DSPOff != nil
	if err := r.validateTransfer(); err != nil || isTransferOp(r.Op) {
		return err
	}
	switch r.Op {
	case OpStatus, OpCalls:
		if callFields || r.CallID != "" {
			return fmt.Errorf("op %q takes no arguments", r.Op)
		}
	case OpCall:
		if r.Name == "" {
			return errors.New("op \"call\" needs a name")
		}
		if r.CallID != "" {
			return errors.New("op \"call\" takes no call_id")
		}
		if r.DurationMs < 0 || r.DurationMs > int64(7*24*time.Hour/time.Millisecond) {
			return fmt.Errorf("duration_ms %d is outside 0..one week", r.DurationMs)
		}
		if len(r.DSPOff) > 4 {
			return fmt.Errorf("dsp_off names %d stages; there are 4", len(r.DSPOff))
		}
		if err := call.CheckDSPOff(r.DSPOff); err != nil {
			return fmt.Errorf("dsp_off: %w", err)
		}
	case OpHangup, OpAnswer, OpReject:
		if callFields {
			return fmt.Errorf("op %q takes only call_id", r.Op)
		}
	case "":
		return errors.New("op is missing")
	default:
		return fmt.Errorf("unknown op %.40q; the ops are status, call, hangup, answer, reject, calls, mute, unmute, hold, resume, device, send, transfers, accept_file, refuse_file", r.Op)
	}
	return nil
}

// ErrorCode is the control error code of err.
func ErrorCode(err error) string {
	switch {
	case errors.Is(err, presence.ErrUnknownUser):
		return CodeUnknownUser
	case errors.Is(err, presence.ErrUserOffline):
		return CodeOffline
	case errors.Is(err, call.ErrRejected):
		return CodeRejected
	case errors.Is(err, call.ErrBusy):
		return CodeBusy
	case errors.Is(err, call.ErrNoAnswer):
		return CodeNoAnswer
	case errors.Is(err, home.ErrCertificate):
		return CodeAuth
	case errors.Is(err, ErrBadRequest):
		return CodeBadRequest
	case errors.Is(err, call.ErrNoSuchCall):
		return CodeNoSuchCall
	case errors.Is(err, call.ErrAudio):
		return CodeAudio
	}
	if code := mediaCode(err); code != "" {
		return code
	}
	if code := softphoneCode(err); code != "" {
		return code
	}
	return CodeFailed
}

// remoteError is an error received from a node, carrying its code.
type remoteError struct {
	code, msg string
}

func (e *remoteError) Error() string { return e.msg }

// Unwrap maps the code back to the node's sentinel, so errors.Is works
// across the socket.
func (e *remoteError) Unwrap() error {
	switch e.code {
	case CodeUnknownUser:
		return presence.ErrUnknownUser
	case CodeOffline:
		return presence.ErrUserOffline
	case CodeRejected:
		return call.ErrRejected
	case CodeBusy:
		return call.ErrBusy
	case CodeNoAnswer:
		return call.ErrNoAnswer
	case CodeAuth:
		return home.ErrCertificate
	case CodeBadRequest:
		return ErrBadRequest
	case CodeNoSuchCall:
		return call.ErrNoSuchCall
	case CodeAudio:
		return call.ErrAudio
	}
	if err := mediaError(e.code); err != nil {
		return err
	}
	if err := softphoneError(e.code); err != nil {
		return err
	}
	return call.ErrCallFailed
}

// Node is what the control socket serves: a running node.
type Node interface {
	Status() Status
	Calls() []call.Info
	Answer(id string) error
	Reject(id string) error
	Hangup(ctx context.Context, id string) error
	Call(ctx context.Context, username string, o call.Options) (*call.Result, error)
}

// Server serves a node's control socket.
type Server struct {
	n     Node
	ctx   context.Context
	stop  context.CancelFunc
	ln    net.Listener
	path  string
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Serve listens on the control socket at path (the home's
// home.ControlSocket) and serves n until Close. The caller holds the home's
// lock, so a socket file left there is stale and removed.
func Serve(path string, n Node) (*Server, error) {
	_ = os.Remove(path)
	// The socket is created under a umask that leaves it 0600.
	ln, err := listenUnix0600(path)
	if err != nil {
		return nil, fmt.Errorf("open control socket %s: %w", path, err)
	}
	s := &Server{n: n, ln: ln, path: path, conns: map[net.Conn]struct{}{}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func listenUnix0600(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.conns == nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Close stops accepting, ends the requests going on (a call placed through
// the socket is hung up) and waits for them.
func (s *Server) Close() error {
	s.stop()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
	_ = os.Remove(s.path)
	return err
}

// serve answers one request on c.
func (s *Server) serve(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := readLine(bufio.NewReaderSize(c, 4096), MaxMessage)
	_ = c.SetReadDeadline(time.Time{})
	var mu sync.Mutex
	send := func(r Response) {
		mu.Lock()
		defer mu.Unlock()
		data, _ := json.Marshal(r)
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write(append(data, '\n'))
	}
	fail := func(err error) {
		send(Response{Done: true, Error: ErrorCode(err), Message: err.Error()})
	}
	if err != nil {
		fail(fmt.Errorf("%w: %w", ErrBadRequest, err))
		return
	}
	req, err := DecodeRequest(line)
	if err != nil {
		fail(err)
		return
	}
	n := s.n
	if req.Op == OpDevice {
		s.serveDevice(req, send, fail)
		return
	}
	if isTransferOp(req.Op) {
		s.serveTransfer(req, send, fail)
		return
	}
	if isMediaOp(req.Op) {
		s.serveMedia(req, send, fail)
		return
	}
	if s.serveSoftphone(req, send, fail) {
		return
	}
	switch req.Op {
	case OpStatus:
		st := n.Status()
		send(Response{Done: true, Status: &st})
	case OpCalls:
		send(Response{Done: true, Calls: n.Calls()})
	case OpAnswer, OpReject, OpHangup:
		var err error
		switch req.Op {
		case OpAnswer:
			err = n.Answer(req.CallID)
		case OpReject:
			err = n.Reject(req.CallID)
		default:
			hctx, cancel := context.WithTimeout(s.ctx, call.HangupTimeout)
			err = n.Hangup(hctx, req.CallID)
			cancel()
		}
		if err != nil {
			fail(err)
			return
		}
		send(Response{Done: true})
	case OpCall:
		// The call lasts as long as the client stays connected: a client
		// that goes away (Ctrl-C) hangs the call up.
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			_, _ = io.Copy(io.Discard, c)
			cancel()
		}()
		// After the final line, closing c ends the reader; wait for it.
		defer func() {
			c.Close()
			<-readerDone
		}()
		opts := call.Options{
			Duration: time.Duration(req.DurationMs) * time.Millisecond,
			AudioIn:  req.AudioIn, AudioOut: req.AudioOut,
			ForceRelay: req.ForceRelay, DSPOff: req.DSPOff,
			OnEvent: func(ev call.Event) {
				if ev.Kind == call.EventEnded {
					return
				}
				ci := ev.Call
				send(Response{Event: ev.Kind, Call: &ci})
			},
		}
		res, err := n.Call(ctx, req.Name, opts)
		if err != nil {
			send(Response{Done: true, Error: ErrorCode(err), Message: err.Error(), Result: res})
			return
		}
		send(Response{Done: true, Result: res})
	}
}

// readLine reads one newline-terminated line of at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit+1 {
			return nil, fmt.Errorf("line longer than %d bytes", limit)
		}
		if err == nil {
			return bytes.TrimRight(line, "\r\n"), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return line, nil
		}
		return nil, err
	}
}

// ErrNoNode is returned by Dial when no node runs on the home.
var ErrNoNode = errors.New("no peercall node is running on this home")

// Client talks to a running node over its control socket.
type Client struct {
	path string
}

// Dial returns a client of the node running on home, or an error
// wrapping ErrNoNode.
func Dial(h *home.Home) (*Client, error) {
	path := h.Path(home.ControlSocket)
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v); start one with `peercall run`", ErrNoNode, path, err)
	}
	c.Close()
	return &Client{path: path}, nil
}

// Do sends req and returns the final response; event lines go to onEvent
// (may be nil). An error response is returned as an error that matches the
// node's sentinel errors (errors.Is(err, call.ErrRejected), …), together with
// the response. Cancelling ctx closes the connection, which hangs up a call.
func (cc *Client) Do(ctx context.Context, req Request, onEvent func(Response)) (*Response, error) {
	if err := req.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", cc.path)
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrNoNode, cc.path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(append(data, '\n')); err != nil {
		return nil, fmt.Errorf("send to the node: %w", err)
	}
	br := bufio.NewReaderSize(c, 4096)
	for {
		line, err := readLine(br, MaxMessage)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("read the node's answer: %w (did the node stop?)", err)
		}
		var resp Response
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&resp); err != nil {
			return nil, fmt.Errorf("the node's answer does not decode: %w", err)
		}
		if !resp.Done {
			if onEvent != nil {
				onEvent(resp)
			}
			continue
		}
		if resp.Error != "" {
			return &resp, &remoteError{code: resp.Error, msg: resp.Message}
		}
		return &resp, nil
	}
}

// Call places a call through the node (req.Op must be OpCall) and returns
// its final response. When ctx ends (Ctrl-C) the call is hung up through a
// second request and Call still returns the call's result; before the node
// has named the call, ending ctx closes the connection, which cancels it.
func (cc *Client) Call(ctx context.Context, req Request, onEvent func(Response)) (*Response, error) {
	if req.Op != OpCall {
		return nil, fmt.Errorf("%w: Client.Call needs op %q", ErrBadRequest, OpCall)
	}
	var mu sync.Mutex
	callID := ""
	inner, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	hungUp := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(hungUp)
		mu.Lock()
		id := callID
		mu.Unlock()
		if id == "" {
			cancel()
			return
		}
		hctx, hcancel := context.WithTimeout(inner, call.HangupTimeout)
		defer hcancel()
		if _, err := cc.Do(hctx, Request{Op: OpHangup, CallID: id}, nil); err != nil {
			cancel()
		}
	})
	defer func() {
		if !stop() {
			<-hungUp // the hangup request is running: wait for it
		}
	}()
	return cc.Do(inner, req, func(r Response) {
		if r.Call != nil {
			mu.Lock()
			callID = r.Call.CallID
			mu.Unlock()
		}
		if onEvent != nil {
			onEvent(r)
		}
	})
}
