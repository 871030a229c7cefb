// Package tcplisten holds the TURN server's two listener wrappers: Tracking,
// which closes the connections it accepted when it is closed (pion/turn
// leaves them open), and Chan, a listener fed connections accepted
// elsewhere (a shared port's route, handed to each run of the server).
package tcplisten
