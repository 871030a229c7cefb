# peercall — `make demo` runs a loopback demo, `make test` runs every test.
# Both install what they need (Debian packages) when it is missing.

GO      ?= go
BIN     ?= bin
PACKAGES = ./...

.PHONY: all build deps demo test bench bench-scale fuzz lab lab-report attack long vet clean install uninstall deb

all: build

deps:
	@bash scripts/deps.sh

build: deps
	$(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet $(PACKAGES)

demo: build
	@bash scripts/demo.sh

test: deps
	@bash scripts/test.sh

bench: deps
	@bash scripts/bench.sh

# The scale figures of issue 16 (minutes, not part of test): relayed calls
# through one super-node pinned to one core against bare pion/turn and
# coturn (installed when missing), and the no-cascade timeline; JSON lines
# in OUT (default bench-scale.jsonl) and tables.
bench-scale: deps
	@bash scripts/bench-scale.sh

# Short fuzzing of every decoder of untrusted bytes (FUZZTIME each).
fuzz:
	@bash scripts/fuzz.sh

# The network lab: real namespaces, NATs and firewalls (needs root, as CI
# runs). Lab scenario packages belong under internal/netlab/ so this runs them.
# The scenarios take minutes on a loaded machine: hence the 20 min timeout.
lab: deps
	$(GO) test -race -count=1 -timeout 20m -v ./internal/netlab/...

# The lab's figures: every scenario LAB_RUNS times (one at a time) on the
# impairment profiles that apply to it; bin/lab-report.json and a table of
# set-up p50/p95, failover audio gap p95 and speech similarity. Needs root;
# tens of minutes. LAB_TESTS=TestConeNATs,TestDirect runs only those,
# LAB_PROFILES=none,dsl puts every test on those profiles.
LAB_RUNS ?= 10
LAB_TESTS ?=
LAB_PROFILES ?=
lab-report: deps
	$(GO) run ./internal/netlab/labreport -runs $(LAB_RUNS) -run "$(LAB_TESTS)" -profiles "$(LAB_PROFILES)" -out $(BIN)/lab-report.json

# The attacks of docs/security.md at full scale: signalling streams and a
# connection flood against a node while certified calls are placed (JSON
# line of figures), and 20,000 idle connections against the directory
# while another address looks users up (p99). Minutes, not part of test.
attack: build
	PEERCALL_ATTACK=1 $(GO) test -count=1 -run 'TestCallUnderAttack$$' -v ./node/
	PEERCALL_ATTACK=1 $(GO) test -count=1 -run 'TestConnectionExhaustionLong$$' -v ./cmd/peercall-directory/

# Installs both binaries, the systemd units (not enabled), the desktop entry
# and the docs into $(DESTDIR)$(PREFIX) (default /usr/local).
PREFIX ?= /usr/local
install: build
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) BIN=$(BIN) bash scripts/install.sh

# Removes what install put there; every user's ~/.peercall stays.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/peercall $(DESTDIR)$(PREFIX)/bin/peercall-directory \
		$(DESTDIR)$(PREFIX)/lib/systemd/user/peercall.service \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/peercall-directory.service \
		$(DESTDIR)$(PREFIX)/share/applications/peercall.desktop \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/peercall
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/peercall
	@echo "peercall removed; your keys, contacts and history stay in ~/.peercall (or \$$PEERCALL_HOME)"

# A Debian package in bin/ (dpkg-deb; lintian when installed).
deb: build
	BIN=$(BIN) bash scripts/deb.sh

# Long variants: a 200 MiB file transfer killed (kill -9) at half and resumed,
# on loopback and through the lab's 443-only firewall (root);
# a burst of 1,000 chat messages with either side killed (kill -9) part-way.
long:
	PEERCALL_LONG=1 $(GO) test -count=1 -run 'TestKill9Resume$$' -v ./transfer/
	PEERCALL_LONG=1 $(GO) test -count=1 -run 'TestKill(Sender|Receiver)$$' -v ./chat/
	PEERCALL_LONG=1 $(GO) test -count=1 -run 'TestFirewall443$$/file' -v ./internal/netlab/scenarios/

clean:
	rm -rf $(BIN)
