package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/peercall/peercall/transfer"
)

// File transfer operations.
const (
	// OpSend sends the file at Path to Name; progress comes as event
	// lines (Transfer), then the final line carries the Report.
	OpSend = "send"
	// OpTransfers lists the node's recent and waiting transfers.
	OpTransfers = "transfers"
	// OpAcceptFile and OpRefuseFile decide on the offer TransferID.
	OpAcceptFile = "accept_file"
	OpRefuseFile = "refuse_file"
)

// TransferNode is a node that transfers files (package transfer).
type TransferNode interface {
	SendFile(ctx context.Context, username, path string, onEvent func(transfer.Event)) (*transfer.Report, error)
	Transfers() []transfer.Event
	DecideTransfer(id string, accept bool) error
}

// ErrNoSuchTransfer: no offer waits under that id.
var ErrNoSuchTransfer = transfer.ErrNoOffer

func isTransferOp(op string) bool {
	return op == OpSend || op == OpTransfers || op == OpAcceptFile || op == OpRefuseFile
}

// validateTransfer checks the transfer fields: only transfer operations
// use them, and those use nothing else but Name.
func (r Request) validateTransfer() error {
	if !isTransferOp(r.Op) {
		if r.Path != "" || r.TransferID != "" {
			return fmt.Errorf("op %q takes no path or transfer_id", r.Op)
		}
		return nil
	}
	if len(r.Path) > 4096 || len(r.TransferID) > 64 {
		return errors.New("path or transfer_id too long")
	}
	others := r.DurationMs != 0 || r.AudioIn != "" || r.AudioOut != "" || r.ForceRelay || r.DSPOff != nil || r.CallID != ""
	switch {
	case others:
		return fmt.Errorf("op %q takes no call fields", r.Op)
	case r.Op == OpSend && (r.Name == "" || r.Path == "" || r.TransferID != ""):
		return errors.New(`op "send" needs a name and a path, and no transfer_id`)
	case r.Op == OpTransfers && (r.Name != "" || r.Path != "" || r.TransferID != ""):
		return errors.New(`op "transfers" takes no arguments`)
	case (r.Op == OpAcceptFile || r.Op == OpRefuseFile) && (r.TransferID == "" || r.Name != "" || r.Path != ""):
		return fmt.Errorf("op %q takes only transfer_id", r.Op)
	}
	return nil
}

// serveTransfer answers a transfer operation.
func (s *Server) serveTransfer(req Request, send func(Response), fail func(error)) {
	tn, ok := s.n.(TransferNode)
	if !ok {
		fail(errors.New("this node does not transfer files"))
		return
	}
	switch req.Op {
	case OpTransfers:
		list := tn.Transfers()
		if list == nil {
			list = []transfer.Event{}
		}
		send(Response{Done: true, Transfers: list})
	case OpAcceptFile, OpRefuseFile:
		if err := tn.DecideTransfer(req.TransferID, req.Op == OpAcceptFile); err != nil {
			fail(err)
			return
		}
		send(Response{Done: true})
	case OpSend:
		rep, err := tn.SendFile(s.ctx, req.Name, req.Path, func(ev transfer.Event) {
			send(Response{Transfer: &ev})
		})
		if err != nil {
			send(Response{Done: true, Error: ErrorCode(err), Message: err.Error(), Report: rep})
			return
		}
		send(Response{Done: true, Report: rep})
	}
}
