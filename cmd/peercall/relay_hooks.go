package main

// cpuLoadHook, when set, replaces the node's CPU load reading
// (/proc/stat) in `run`: tests on a shared, busy machine set it so that
// the machine's load does not decide their super-node's promotion.
var cpuLoadHook func() float64

// sameHostPeersHook, when set, lets `run`'s TURN relay send to this
// machine's own addresses (supernode.Options.SameHostPeers): CLI tests run
// every node on 127.0.0.1.
var sameHostPeersHook bool
