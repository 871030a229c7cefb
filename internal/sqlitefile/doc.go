// Package sqlitefile opens the home's SQLite database (contacts.db) the one
// way its users need: created 0600 in a 0700 directory, write-ahead log,
// synchronous=FULL, immediate write transactions and one connection, so a
// change a caller committed is on disk and a kill -9 loses at most the
// change being made. Packages contacts and chat keep their tables in it.
package sqlitefile
