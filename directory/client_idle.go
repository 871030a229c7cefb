package directory

// CloseIdleConnections drops the client's kept-alive connections, which
// ride the machine's old address after a network change and would only
// time out; the next request dials afresh. The client stays usable.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }
