package pgtest

import "syscall"

// serverAttr runs the server as cred (nil: as we are), in its own process group, and
// has the kernel send it SIGQUIT (PostgreSQL's immediate shutdown) when the test
// process dies, however it dies.
func serverAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
}
