// Package events is a node's one event stream: calls, presence, contacts,
// relay figures and audio levels, published by the node and read by
// `peercall status`, the CLI's watchers and the web interface alike, so that
// every view shows the same facts. A subscriber too slow to keep up is cut
// off (and reloads), never allowed to hold the node back.
package events
