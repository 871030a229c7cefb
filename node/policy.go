package node

import (
	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/policyfile"
	"github.com/peercall/peercall/relay"
	"github.com/peercall/peercall/transfer"
)

// adminPolicy is policy.toml, read once at start, section by section.
type adminPolicy struct {
	file     *policyfile.File
	transfer transfer.Settings
	chat     chat.PolicySection
}

// loadPolicy reads the administrator's policy (`run --policy`) and decodes
// every section before anything starts: a policy the node cannot apply
// stops it.
func (n *Node) loadPolicy() (err error) {
	p := &n.policy
	if p.file, err = policyfile.Load(n.opts.Relay.PolicyPath); err != nil {
		return err
	}
	rp, err := relay.PolicyFrom(p.file)
	if err == nil {
		n.opts.Relay.Policy = &rp
		if p.transfer, err = transfer.PolicyFrom(p.file); err == nil {
			p.chat, err = chat.PolicyFrom(p.file)
		}
	}
	return p.file.Err(err)
}
