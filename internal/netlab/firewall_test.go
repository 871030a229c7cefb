package netlab

import (
	"testing"
)

// TestFirewall checks a corporate firewall that lets out only TCP 443, with
// and without NAT behind it.
func TestFirewall(t *testing.T) {
	lab := New(t)
	inet := lab.Internet()
	web := lab.Host("web", inet)
	corp := lab.Router("corp", inet, NoNAT, Firewall(AllowOutTCP(443)))
	corpNAT := lab.Router("corpnat", inet, ConeNAT, Firewall(AllowOutTCP(443)))
	open := lab.Router("open", inet, NoNAT)
	eve := lab.Host("eve", corp.LAN())
	frank := lab.Host("frank", corpNAT.LAN())
	gina := lab.Host("gina", open.LAN())
	for _, h := range []*Host{web, eve, gina} {
		echo(t, h, []int{443, 3478}, []int{443, 80})
	}

	tests := []struct {
		name  string
		from  *Host
		to    *Host
		proto string
		port  int
		want  bool
	}{
		{"TCP 443 out", eve, web, "tcp", 443, true},
		{"TCP 80 out", eve, web, "tcp", 80, false},
		{"UDP 443 out", eve, web, "udp", 443, false},
		{"UDP 3478 out", eve, web, "udp", 3478, false},
		{"TCP 443 in, unsolicited", web, eve, "tcp", 443, false},
		{"UDP 443 in, unsolicited", web, eve, "udp", 443, false},
		{"NAT: TCP 443 out", frank, web, "tcp", 443, true},
		{"NAT: TCP 80 out", frank, web, "tcp", 80, false},
		{"NAT: UDP 3478 out", frank, web, "udp", 3478, false},
		{"no firewall: TCP 80 out", gina, web, "tcp", 80, true},
		{"no firewall: UDP 3478 out", gina, web, "udp", 3478, true},
		{"no firewall: TCP 80 in", web, gina, "tcp", 80, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // the refused cases wait for timeouts
			var err error
			if tt.proto == "tcp" {
				_, err = askTCP(tt.from, ap(tt.to.Addr(), tt.port), wait(tt.want))
			} else {
				_, err = askUDP(listenUDP(t, tt.from, 0), ap(tt.to.Addr(), tt.port), wait(tt.want))
			}
			if got := err == nil; got != tt.want {
				t.Errorf("%s %s -> %s:%d: got through=%v (%v), want %v", tt.proto, tt.from, tt.to, tt.port, got, err, tt.want)
			}
		})
	}
}
