package audio

// resampler converts a stream of mono samples from rate in to rate out by
// linear interpolation between neighbouring input samples. It keeps the
// fractional position exactly (in integer units of 1/out input samples), so
// a long stream neither drifts nor accumulates rounding error, and it keeps
// the last input sample so consecutive blocks join without a seam.
//
// Linear interpolation has no anti-alias filter: downsampling from above
// 48 kHz folds content above 24 kHz back into the audible band (a 96 kHz
// recording of speech has next to none), and upsampling attenuates the top
// octave slightly. That is enough for a microphone or a test file; it is not
// a mastering-grade converter.
type resampler struct {
	in, out int
	pos     int64 // position of the next output, in units of 1/out input samples, relative to the current block's sample 0
	prev    int16 // the previous block's last sample (sample -1)
}

func newResampler(in, out int) *resampler {
	return &resampler{in: in, out: out}
}

// process appends to dst the output samples that block x completes and
// returns the extended slice. Over a long stream it yields out/in samples per
// input sample; a single call may give one more or one fewer.
func (r *resampler) process(dst, x []int16) []int16 {
	if r.in == r.out {
		return append(dst, x...)
	}
	n := int64(len(x))
	out := int64(r.out)
	at := func(i int64) float64 {
		if i < 0 {
			return float64(r.prev)
		}
		return float64(x[i])
	}
	for {
		i := floorDiv(r.pos, out) // the input sample at or before the output
		if i+1 >= n {
			break
		}
		frac := float64(r.pos-i*out) / float64(out)
		v := at(i) + (at(i+1)-at(i))*frac
		dst = append(dst, int16(roundClamp(v)))
		r.pos += int64(r.in)
	}
	if n > 0 {
		r.prev = x[n-1]
		r.pos -= n * out
	}
	return dst
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func roundClamp(v float64) float64 {
	if v >= 0 {
		v += 0.5
	} else {
		v -= 0.5
	}
	return max(-32768, min(32767, v))
}

// resample converts a whole recording from rate in to SampleRate.
func resample(x []int16, in int) []int16 {
	if in == SampleRate {
		return x
	}
	r := newResampler(in, SampleRate)
	dst := make([]int16, 0, int64(len(x))*SampleRate/int64(in)+2)
	return r.process(dst, x)
}

// downmix averages interleaved channels into mono.
func downmix(x []int16, channels int) []int16 {
	if channels == 1 {
		return x
	}
	out := make([]int16, len(x)/channels)
	for i := range out {
		var sum int
		for _, v := range x[i*channels : i*channels+channels] {
			sum += int(v)
		}
		out[i] = int16(sum / channels)
	}
	return out
}
