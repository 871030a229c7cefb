package main

// cpuLoadHook, when set, replaces the node's CPU load reading
// (/proc/loadavg) in `run`: tests on a shared, busy machine set it so that
// the machine's load does not decide their super-node's promotion.
var cpuLoadHook func() float64
