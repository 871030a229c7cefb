// Command labreport runs the network lab's scenarios (internal/netlab/scenarios)
// several times each, one at a time, reads the SCENARIO lines they log and
// writes the figures (set-up p50/p95, failover audio gap p95, speech
// similarity p50, per scenario, impairment profile and route; next to the
// profile's jitter, the caller's measured jitter, jitter buffer depth and
// late share) to a JSON file and a table on stdout. It is `make lab-report`; it needs root, as the lab does.
package main
