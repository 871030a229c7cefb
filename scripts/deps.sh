#!/usr/bin/env bash
# Installs the Debian packages peercall needs to build and test, when missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

need=(
	portaudio19-dev # PortAudio headers for the audio backend (cgo)
	libwebrtc-audio-processing-dev # the WebRTC audio-processing module: the microphone chain (dsp, cgo)
	g++             # dsp's small C++ shim over it
	libopus-dev     # libopus: the call's Opus codec (media/opus, cgo; gopus without cgo)
	pkg-config      # cgo finds PortAudio through it
	postgresql      # the directory's PostgreSQL store is tested on a real server
	iproute2        # the network lab
	iptables        # the network lab's NATs and firewalls
	chromium        # the web interface is tested in a real browser (chromedp)
)

missing=()
for p in "${need[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "peercall needs these Debian packages: ${missing[*]}" >&2
	echo "install them as root with:" >&2
	echo "  sudo sh -c '$cmd'" >&2
	exit 1
fi
echo "installing ${missing[*]} ..." >&2
sh -c "$cmd" >&2
