package server

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"golang.org/x/text/secure/precis"

	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/store"
)

// Page sizes.
const (
	maxCertificates  = 16
	maxSightings     = 16
	defaultSearch    = 20
	maxSearch        = 100
	defaultBootstrap = 20
	maxBootstrap     = 50
	maxQueryValueLen = 256
)

// user handles GET /v1/users/{name}.
func (s *Server) user(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	name, aerr := normalizeName(r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	page, err := s.userPage(r, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, errorf(http.StatusNotFound, directory.CodeNotFound, "no user %q is registered; check the name", name)
	}
	if err != nil {
		return 0, nil, s.internal(r, "load user", err)
	}
	u, certs, seen := page.User, page.Certificates, page.Sightings
	if u.Disabled {
		return 0, nil, errorf(http.StatusNotFound, directory.CodeNotFound, "the account %q is disabled by the directory's operator", name)
	}
	resp := directory.UserResponse{Username: u.Name, Display: u.Display, Certificates: make([][]byte, 0, len(certs)), Nodes: nodeInfos(seen, true)}
	for _, c := range certs {
		resp.Certificates = append(resp.Certificates, c.Raw)
	}
	return http.StatusOK, resp, nil
}

// userPage reads what a lookup answers: in one store read where the store
// can (store.UserPager: one statement on SQLite, one round trip on
// PostgreSQL), else in three.
func (s *Server) userPage(r *http.Request, name string) (store.UserPage, error) {
	now := s.now()
	if p, ok := s.store.(store.UserPager); ok {
		return p.UserPage(r.Context(), name, store.PageQuery{Now: now, CertLimit: maxCertificates, Since: now, SightingLimit: maxSightings})
	}
	u, err := s.store.User(r.Context(), name)
	if err != nil {
		return store.UserPage{}, err
	}
	certs, err := s.store.Certificates(r.Context(), name, now, maxCertificates)
	if err != nil {
		return store.UserPage{}, err
	}
	seen, err := s.store.Sightings(r.Context(), name, now, maxSightings) // live ones
	return store.UserPage{User: u, Certificates: certs, Sightings: seen}, err
}

func nodeInfos(seen []store.Sighting, withName bool) []directory.NodeInfo {
	out := make([]directory.NodeInfo, 0, len(seen))
	for _, sg := range seen {
		n := directory.NodeInfo{PeerID: sg.PeerID, Addrs: sg.Addrs, SuperNode: sg.SuperNode, Seen: sg.Seen.UTC()}
		if n.Addrs == nil {
			n.Addrs = []string{}
		}
		if withName {
			n.Username = sg.Username
		}
		out = append(out, n)
	}
	return out
}

// search handles GET /v1/users?prefix=P&after=A&limit=N.
func (s *Server) search(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	q, aerr := query(r, "prefix", "after", "limit")
	if aerr != nil {
		return 0, nil, aerr
	}
	prefix, after := q.Get("prefix"), q.Get("after")
	if len(prefix) > maxQueryValueLen || len(after) > maxQueryValueLen {
		return 0, nil, badRequest("parameters \"prefix\" and \"after\" are at most %d bytes", maxQueryValueLen)
	}
	if prefix != "" {
		p, err := precis.UsernameCaseMapped.String(prefix)
		if err != nil {
			return 0, nil, errorf(http.StatusBadRequest, directory.CodeInvalidUsername,
				"parameter \"prefix\": %q cannot start a username (%v); use letters, digits or ASCII symbols", prefix, err)
		}
		prefix = p
	}
	limit, aerr := intParam(q.Get("limit"), "limit", defaultSearch, maxSearch)
	if aerr != nil {
		return 0, nil, aerr
	}
	users, err := s.store.SearchUsers(r.Context(), prefix, after, limit)
	if err != nil {
		return 0, nil, s.internal(r, "search users", err)
	}
	resp := directory.SearchResponse{Users: make([]directory.UserSummary, 0, len(users))}
	for _, u := range users {
		resp.Users = append(resp.Users, directory.UserSummary{Username: u.Name, Display: u.Display})
	}
	if len(users) == limit {
		resp.Next = users[len(users)-1].Name
	}
	return http.StatusOK, resp, nil
}

// bootstrap handles GET /v1/bootstrap?limit=N: live super-nodes the
// directory reached itself (at the addresses it reached them), else live
// nodes (checked in); at most a few of one account and of one client
// address either way, so that no one account or address can fill the
// answer. Usernames are left out.
func (s *Server) bootstrap(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	q, aerr := query(r, "limit")
	if aerr != nil {
		return 0, nil, aerr
	}
	limit, aerr := intParam(q.Get("limit"), "limit", defaultBootstrap, maxBootstrap)
	if aerr != nil {
		return 0, nil, aerr
	}
	bq := store.BootstrapQuery{Since: s.now(), SuperOnly: true,
		PerUser: s.cfg.Limits.BootstrapPerAccount, PerSource: s.cfg.Limits.BootstrapPerAddr, Limit: limit}
	nodes, err := s.store.BootstrapNodes(r.Context(), bq)
	if err == nil && len(nodes) == 0 {
		bq.SuperOnly = false
		nodes, err = s.store.BootstrapNodes(r.Context(), bq)
	}
	if err != nil {
		return 0, nil, s.internal(r, "bootstrap nodes", err)
	}
	peers := nodeInfos(nodes, false)
	for i, sg := range nodes {
		if sg.SuperNode {
			peers[i].Addrs = sg.VerifiedAddrs
		}
	}
	return http.StatusOK, directory.BootstrapResponse{Peers: peers}, nil
}

// publicKey handles GET /v1/key.
func (s *Server) publicKey(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	return http.StatusOK, directory.KeyResponse{Key: s.pubText}, nil
}

// query parses the query strictly: malformed, unknown or repeated
// parameters are refused.
func query(r *http.Request, allowed ...string) (url.Values, *apiError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed: %v", err)
	}
	return q, onlyParams(q, allowed...)
}

// onlyParams refuses unknown or repeated query parameters.
func onlyParams(q url.Values, allowed ...string) *apiError {
	for k, v := range q {
		if !contains(allowed, k) {
			return badRequest("unknown parameter %q; the parameters are %q", k, allowed)
		}
		if len(v) > 1 {
			return badRequest("parameter %q appears %d times; send it once", k, len(v))
		}
	}
	return nil
}

// intParam parses a limit: empty means def, above max means max.
func intParam(v, name string, def, max int) (int, *apiError) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badRequest("parameter %q is %.20q; want a whole number from 1 to %d", name, v, max)
	}
	return min(n, max), nil
}
