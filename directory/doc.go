// Package directory holds the wire types of the peercall directory API, the
// username rules (PRECIS UsernameCaseMapped normalisation, length and reserved
// names) and the Go client that nodes use to register, log in and look up
// users. It links no SQL driver: clients import it, servers build on it.
package directory
