// Package call runs a node's calls. Manager.Call resolves the callee
// (Config.Resolve: DHT, directory, cache, then a libp2p dial), builds a
// media.Session with TURN servers from the super-node client
// (Config.Relays), sends INVITE with the SDP offer over signalling, and
// drives the call: ringing, the answer, ICE and DTLS (media.Session.Start),
// audio, ICE restarts, and hang-up. Incoming calls arrive from
// signalling.Manager.Incoming and ring until Answer or Reject (or are
// answered at once with AutoAnswer). A relayed call whose path is lost
// moves to another super-node (failover.go) or ends with "relay lost" on
// both sides. States, directions, events and routes are typed (State,
// Direction, EventKind, media.RouteKind).
package call
