//go:build !linux

package pgtest

import "syscall"

// serverAttr runs the server as cred (nil: as we are) in its own process group. Outside
// Linux there is no parent-death signal: a killed test run leaves its server running.
func serverAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
