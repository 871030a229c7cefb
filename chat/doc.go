// Package chat is text chat between certified users over /peercall/chat/1:
// messages with ids and a per-conversation sequence, delivered and read
// receipts, an outbox in the home's SQLite that survives restarts and
// retries for a bounded time, the searchable history, and the receiving
// side's limits (strict decoding, a per-sender rate, blocked users refused).
package chat
