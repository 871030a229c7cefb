package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"
)

// maxDatagram bounds what one read takes; replies do not depend on the payload.
const maxDatagram = 2048

// maxEcho is how much of a datagram is sent back.
const maxEcho = 64

func main() {
	udp := flag.String("udp", "", "comma-separated UDP addresses to answer on, e.g. :7000,:443")
	tcp := flag.String("tcp", "", "comma-separated TCP addresses to answer on, e.g. :443,:80")
	life := flag.Duration("for", 60*time.Second, "exit after this long")
	flag.Parse()
	if *udp == "" && *tcp == "" {
		fmt.Fprintln(os.Stderr, "labecho: nothing to do: give -udp and/or -tcp addresses")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *life)
	defer cancel()
	if err := serve(ctx, split(*udp), split(*tcp)); err != nil {
		fmt.Fprintln(os.Stderr, "labecho:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// serve answers on every address until ctx ends; it prints "ready" once all
// listeners are open.
func serve(ctx context.Context, udpAddrs, tcpAddrs []string) error {
	var lc net.ListenConfig
	var wg sync.WaitGroup
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
		wg.Wait()
	}()
	for _, a := range udpAddrs {
		pc, err := lc.ListenPacket(ctx, "udp4", a)
		if err != nil {
			return fmt.Errorf("listen on udp %s: %w", a, err)
		}
		closers = append(closers, func() { pc.Close() })
		fmt.Printf("listening udp %s\n", pc.LocalAddr())
		wg.Go(func() { echoUDP(pc) })
	}
	for _, a := range tcpAddrs {
		ln, err := lc.Listen(ctx, "tcp4", a)
		if err != nil {
			return fmt.Errorf("listen on tcp %s: %w", a, err)
		}
		closers = append(closers, func() { ln.Close() })
		fmt.Printf("listening tcp %s\n", ln.Addr())
		wg.Go(func() { echoTCP(ln) })
	}
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}

func echoUDP(pc net.PacketConn) {
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := pc.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		fmt.Printf("udp %s from %s\n", pc.LocalAddr(), from)
		// The answer carries the start of the datagram back, so a
		// client can tell the answer to each of its probes apart.
		_, _ = pc.WriteTo(fmt.Appendf(nil, "from %s %s", from, buf[:min(n, maxEcho)]), from)
	}
}

func echoTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		fmt.Printf("tcp %s from %s\n", ln.Addr(), c.RemoteAddr())
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = fmt.Fprintf(c, "from %s\n", c.RemoteAddr())
		c.Close()
	}
}
