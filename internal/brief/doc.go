// Package brief shortens what goes into log lines and error messages: a
// peer ID as its last characters, a list of reasons as its first few and a
// count of the rest.
package brief
