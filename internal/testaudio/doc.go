// Package testaudio gives tests two speech recordings (made with espeak-ng,
// 48 kHz mono 16-bit) and the metric that says whether received audio is the
// audio that was sent: normalised cross-correlation at the best lag.
package testaudio
