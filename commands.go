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
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// operator is the audit actor of commands run on the server.
var operator = store.Actor{Email: "operator (command line)"}

// userCommand: portal user add|reset.
func userCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: portal user add --email E --role admin|agent [--name N] [--password-stdin] | portal user reset --email E [--second-factor]")
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
	resetSecondFactor := fs.Bool("second-factor", false, "reset: also remove the account's second factor (lost phone); it sets up a new one at sign-in if required")
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
	// Issue 9: everything is checked before anything is written, so a refused name, role
	// or password leaves no half-made account behind (and a retry is not "email in use").
	if sub == "add" {
		if *name == "" {
			*name, _, _ = strings.Cut(*email, "@")
		}
		var errs map[string]string
		if *email, *name, errs = review.CheckNewUser(*email, *name, *role); errs != nil {
			return userFlagsError(errs, *role)
		}
	}
	var stdinPassword string
	if *fromStdin {
		line, err := bufio.NewReader(commandStdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		stdinPassword = strings.TrimRight(line, "\r\n")
		if err := auth.ValidatePassword(stdinPassword, store.NormalizeEmail(*email)); err != nil {
			return fmt.Errorf("password refused, nothing was changed: %w", err)
		}
	}
	db, err := openStore(ctx, cfg)
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
		if *resetSecondFactor { // second factor (issue 9, item 1): the way back for the last admin who lost their phone
			switch err := db.ResetSecondFactor(ctx, operator, u.ID, "reset by the operator's command"); {
			case errors.Is(err, store.ErrNotFound):
				fmt.Fprintf(stdout, "%s has no second factor\n", u.Email)
			case err != nil:
				return fmt.Errorf("reset second factor: %w", err)
			default:
				fmt.Fprintf(stdout, "second factor of %s removed; its sessions were ended\n", u.Email)
			}
		}
	default:
		return fmt.Errorf("unknown user command %q (want add or reset)", sub)
	}

	if *fromStdin {
		pw := stdinPassword // read and checked above, before anything was written
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

// commandStdin is where `user add|reset --password-stdin` reads; tests replace it.
var commandStdin io.Reader = os.Stdin

// userFlagsError turns the account rules' messages (review.CheckNewUser) into one error
// naming the flags.
func userFlagsError(errs map[string]string, role string) error {
	var parts []string
	for _, f := range []struct{ field, flag string }{{review.FieldEmail, "--email"}, {review.FieldName, "--name"}, {review.FieldRole, "--role"}} {
		if msg, ok := errs[f.field]; ok {
			if f.field == review.FieldRole {
				msg = fmt.Sprintf("%q: want admin or agent", role)
			}
			parts = append(parts, f.flag+" "+msg)
		}
	}
	return errors.New(strings.Join(parts, "; ") + " (nothing was created)")
}

// auditCommand: portal audit verify | portal audit export.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "export" { // audit export (issue 11, item 6)
		return auditExportCommand(ctx, args[1:], getenv, stdout)
	}
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: portal audit verify [--data-dir D] | portal audit export --from DAY --to DAY [--format csv|jsonl] [--actor A] [--action A] [--out FILE]")
	}
	cfg, _, err := parseConfig("audit verify", args[1:], getenv, stdout)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
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
	cfg, _, err := parseConfig("backup", nil, getenv, stdout)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		return store.ErrBackupEngine
	}
	if *to == "" {
		return errors.New("usage: portal backup --to FILE [--data-dir D]")
	}
	if _, err := os.Stat(*to); err == nil {
		return fmt.Errorf("%s exists; choose a new file", *to)
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	db, err := openStore(ctx, cfg)
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

// Audit export (issue 11, item 6).

// auditExportCommand: portal audit export --from DAY --to DAY [--format csv|jsonl]
// [--actor EMAIL|ID] [--action A] [--out FILE]. The same checks and the same file as the
// web export; everything is checked before anything is written, the export is recorded
// in the audit log (as the command-line operator) and then written to stdout or to FILE
// (a new file; a failed export removes it).
func auditExportCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var in review.AuditExportInput
	fs.StringVar(&in.From, "from", "", "first day (2026-01-01, UTC) or RFC 3339 instant; empty: the first event")
	fs.StringVar(&in.To, "to", "", "last day (included, UTC) or RFC 3339 instant; empty: now")
	fs.StringVar(&in.Format, "format", "csv", "csv or jsonl")
	fs.StringVar(&in.Actor, "actor", "", "only this account's events (email or account number)")
	fs.StringVar(&in.Action, "action", "", "only this action, e.g. auth.login")
	out := fs.String("out", "", "file to write (must not exist); default: standard output")
	dataDir := fs.String("data-dir", "", "data folder (PORTAL_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit export: unexpected %q; every option is a flag (--from, --to, ...)", fs.Arg(0))
	}
	if *out != "" {
		if _, err := os.Stat(*out); err == nil {
			return fmt.Errorf("%s exists; choose a new file", *out)
		}
	}
	cfg, _, err := parseConfig("audit export", nil, getenv, stdout)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	// Whoever runs commands on the server holds the database file: an administrator.
	actor := operator
	actor.Role = store.RoleAdmin
	var file *os.File
	n, err := review.ExportAudit(ctx, db, actor, in, func(review.AuditExport) (io.Writer, error) {
		if *out == "" {
			return stdout, nil
		}
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		file = f
		return f, nil
	})
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*out)
		}
	}
	if e := review.ErrorOf(err); e != nil && len(e.Fields) > 0 {
		var msgs []string
		for _, f := range []string{review.FieldExportFrom, review.FieldExportTo, review.FieldExportActor, review.FieldExportAction, review.FieldExportFormat} {
			if m, ok := e.Fields[f]; ok {
				msgs = append(msgs, "--"+f+": "+m)
			}
		}
		return fmt.Errorf("audit export refused, nothing written:\n  %s", strings.Join(msgs, "\n  "))
	}
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	if *out != "" {
		fmt.Fprintf(stdout, "exported %d audit events to %s\n", n, *out)
	}
	return nil
}
