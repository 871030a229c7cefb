package media

import (
	"sync/atomic"
	"time"

	"github.com/peercall/peercall/media/jitterbuf"
)

// player turns the jitter buffer's decisions into frames of the local
// frame size: it decodes, rebuilds (FEC) or conceals one packet at a time
// into a small FIFO and hands out exactly one frame per call.
type player struct {
	jb   *jitterbuf.Buffer
	dec  *decoder
	fifo []int16 // decoded samples not yet played (bounded: < frame + one packet)
	buf  []int16
	pkt  []byte // the payload being decoded

	fecRecovered atomic.Uint64
	concealed    atomic.Uint64
	decodeErrors atomic.Uint64
}

func newPlayer(jb *jitterbuf.Buffer, dec *decoder, frame int) *player {
	return &player{jb: jb, dec: dec, fifo: make([]int16, 0, frame+maxPacketSamples), buf: make([]int16, maxPacketSamples), pkt: make([]byte, maxOpusPacket)}
}

// fill writes the frame that plays at now into frame. It returns false
// (and writes nothing) until the first packet has arrived.
func (p *player) fill(frame []int16, now time.Time) (bool, error) {
	for len(p.fifo) < len(frame) {
		kind, payload := p.jb.Pull(p.pkt, now)
		var n int
		var err error
		switch kind {
		case jitterbuf.None:
			return false, nil
		case jitterbuf.Play, jitterbuf.Drop:
			n, err = p.dec.decode(payload, p.buf)
			if err != nil {
				// A corrupt packet from the peer: conceal it and go on.
				p.decodeErrors.Add(1)
				n, err = p.dec.conceal(p.buf)
				p.concealed.Add(1)
			}
			if kind == jitterbuf.Drop {
				continue
			}
		case jitterbuf.FEC:
			n, err = p.dec.recover(payload, p.buf)
			p.fecRecovered.Add(1)
		case jitterbuf.Silence:
			n = p.dec.last
			clear(p.buf[:n])
		case jitterbuf.Conceal:
			n, err = p.dec.conceal(p.buf)
			p.concealed.Add(1)
		}
		if err != nil {
			return false, err
		}
		p.fifo = append(p.fifo, p.buf[:n]...)
	}
	copy(frame, p.fifo)
	rest := copy(p.fifo, p.fifo[len(frame):])
	p.fifo = p.fifo[:rest]
	return true, nil
}
