package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Themes a user may choose: auto follows the system's (prefers-color-scheme).
const (
	ThemeAuto  = "auto"
	ThemeLight = "light"
	ThemeDark  = "dark"
)

// Preferences are how the portal shows itself to one user (issue 12). The zero value is
// the default: the browser's language and time zone, the system's theme.
type Preferences struct {
	Language string // "" (the browser's), "en" or "es"
	Theme    string // ThemeAuto ("" reads as auto), ThemeLight or ThemeDark
	TimeZone string // "" (the browser's) or an IANA name, checked by the caller
}

// ErrBadPreference is a preference outside its allowed values.
var ErrBadPreference = errors.New("store: preference out of range")

func (p Preferences) normal() (Preferences, error) {
	if p.Theme == "" {
		p.Theme = ThemeAuto
	}
	switch {
	case p.Language != "" && p.Language != "en" && p.Language != "es":
		return p, fmt.Errorf("%w: language %q", ErrBadPreference, p.Language)
	case p.Theme != ThemeAuto && p.Theme != ThemeLight && p.Theme != ThemeDark:
		return p, fmt.Errorf("%w: theme %q", ErrBadPreference, p.Theme)
	case len(p.TimeZone) > 64:
		return p, fmt.Errorf("%w: time zone too long", ErrBadPreference)
	}
	return p, nil
}

// Preferences returns the user's preferences; the defaults when none were saved.
func (db *DB) Preferences(ctx context.Context, userID int64) (Preferences, error) {
	var p Preferences
	err := db.queryRow(ctx, "SELECT language, theme, time_zone FROM user_preferences WHERE user_id = ?", userID).
		Scan(&p.Language, &p.Theme, &p.TimeZone)
	if errors.Is(err, sql.ErrNoRows) {
		return Preferences{Theme: ThemeAuto}, nil
	}
	return p, err
}

// SetPreferences stores the user's preferences, audited as a user setting like the
// account's other choices. ErrNotFound when there is no such user.
func (db *DB) SetPreferences(ctx context.Context, a Actor, userID int64, p Preferences) error {
	p, err := p.normal()
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE id = ?", userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_preferences (user_id, language, theme, time_zone, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET language = excluded.language, theme = excluded.theme, time_zone = excluded.time_zone,
			updated_at = excluded.updated_at`, userID, p.Language, p.Theme, p.TimeZone, formatTime(db.now())); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionUserSetting, "user", fmt.Sprint(userID), OutcomeSuccess,
			fmt.Sprintf("language=%q theme=%s time_zone=%q", p.Language, p.Theme, p.TimeZone))
	})
}
