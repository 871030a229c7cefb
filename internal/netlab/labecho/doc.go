// Command labecho is the network lab's echo server: run inside a lab machine
// it answers every UDP datagram and TCP connection with the source address
// it saw ("from 198.18.0.3:40000"; UDP answers add a space and the first 64
// bytes of the datagram), which is how netlab's tests see what a NAT did. It stops by itself after -for (default 60s).
package main
