package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
)

// operator is the audit actor of commands run on the server.
var operator = store.Actor{Email: "operator (command line)"}

// userCommand: portal user add|reset.
func userCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: portal user add --email E --role admin|agent [--name N] [--password-stdin] | portal user reset --email E")
	}
	sub, args := args[0], args[1:]
	// The command's own flags first, then the common configuration flags.
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(stdout)
	email := fs.String("email", "", "account email")
	role := fs.String("role", store.RoleAgent, "admin or agent")
	name := fs.String("name", "", "display name (default: the email's local part)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input instead of issuing a link")
	dataDir := fs.String("data-dir", "", "data folder (PORTAL_DATA_DIR)")
	baseURL := fs.String("base-url", "", "public URL for the link (PORTAL_BASE_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, _, err := parseConfig("user", nil, getenv, stdout)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *baseURL != "" {
		cfg.BaseURL = *baseURL
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + cfg.Addr
	}
	if *email == "" {
		return errors.New("--email is required")
	}
	db, err := openStore(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	hasher := auth.NewHasher(auth.DefaultParams)

	var u *store.User
	switch sub {
	case "add":
		if !store.ValidRole(*role) {
			return fmt.Errorf("--role %q: want admin or agent", *role)
		}
		if *name == "" {
			*name, _, _ = strings.Cut(*email, "@")
		}
		u = &store.User{Email: *email, DisplayName: *name, Role: *role, Active: true}
		if err := db.CreateUser(ctx, operator, u); err != nil {
			return fmt.Errorf("add user: %w", err)
		}
		fmt.Fprintf(stdout, "created %s account %s\n", u.Role, u.Email)
	case "reset":
		if u, err = db.UserByEmail(ctx, *email); err != nil {
			return fmt.Errorf("no account %s: %w", *email, err)
		}
	default:
		return fmt.Errorf("unknown user command %q (want add or reset)", sub)
	}

	if *fromStdin {
		pw, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		pw = strings.TrimRight(pw, "\r\n")
		if err := auth.ValidatePassword(pw, u.Email); err != nil {
			return err
		}
		hash, err := hasher.Hash(pw)
		if err != nil {
			return err
		}
		if err := db.SetPassword(ctx, operator, u.ID, hash, false); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password set for %s\n", u.Email)
		return nil
	}
	token, err := auth.NewToken()
	if err != nil {
		return err
	}
	if err := db.CreateSetPasswordToken(ctx, operator, u.ID, store.HashToken(token), 24*time.Hour); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "one-time set-password link for %s (valid 24 h, single use):\n%s/password/%s\n", u.Email, strings.TrimRight(cfg.BaseURL, "/"), token)
	return nil
}

// auditCommand: portal audit verify.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: portal audit verify [--data-dir D]")
	}
	cfg, _, err := parseConfig("audit verify", args[1:], getenv, stdout)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.VerifyAudit(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "audit chain BROKEN after %d good events: %v\n", n, err)
		return err
	}
	fmt.Fprintf(stdout, "audit chain intact: %d events verified\n", n)
	return nil
}

// backupCommand: portal backup --to FILE. An online copy of the database, checked with
// PRAGMA integrity_check and the audit chain; restoring is stopping the portal and
// putting the file in place of data/portal.db.
func backupCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stdout)
	to := fs.String("to", "", "file to write the backup to (must not exist)")
	dataDir := fs.String("data-dir", "", "data folder (PORTAL_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("usage: portal backup --to FILE [--data-dir D]")
	}
	if _, err := os.Stat(*to); err == nil {
		return fmt.Errorf("%s exists; choose a new file", *to)
	}
	cfg, _, err := parseConfig("backup", nil, getenv, stdout)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	db, err := openStore(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, *to); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s (integrity and audit chain checked)\n", *to)
	return nil
}
