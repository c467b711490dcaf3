// Package processtest holds the tests that run the real portal binary as separate
// processes: the crash-safety rounds (kill -9 while deciding and delivering) and two
// instances on one database (issue 13). They have a package of their own so that their
// minutes count against their own test timeout and run beside the other packages.
package processtest
