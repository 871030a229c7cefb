package server

// Costs in a login budget: a failure costs failCost units, a success
// successCost, so that failures count four times as much.
const (
	failCost    = 4
	successCost = 1
)
