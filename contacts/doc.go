// Package contacts is a user's contact list and its presence: requests,
// accepts, declines, blocks and removals delivered peer to peer over
// /peercall/contacts/1 (queued and retried while the other is offline),
// statuses and moods pushed to authorised contacts, the screening of
// incoming calls, and the call history, all kept in the home's contacts.db.
package contacts
