package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrNoteUnknown: the note a correction names is not a note of the same process.
var ErrNoteUnknown = fmt.Errorf("no such note on this process: %w", ErrInvalid)

// Note is an internal note on a case: never sent to the gateway, never edited after it
// was posted (a later note corrects it).
type Note struct {
	ID          int64
	ProcessID   string
	AuthorID    int64
	AuthorName  string
	AuthorEmail string
	At          time.Time
	Body        string    // empty once purged
	Corrects    int64     // the earlier note of the same process this one corrects; 0 if none
	PurgedAt    time.Time // when retention cleared the body; zero if it did not
}

// Purged reports whether retention cleared the note's body.
func (n *Note) Purged() bool { return !n.PurgedAt.IsZero() }

// NewNote is what a person writes on a case.
type NewNote struct {
	ProcessID string
	Body      string // checked by review (length, characters) before it gets here
	Corrects  int64  // 0, or the id of an earlier note of the same process
}

const noteColumns = `n.id, n.process_id, n.author_id, coalesce(u.display_name, ''), coalesce(u.email, ''), n.at, n.body,
	coalesce(n.corrects, 0), n.purged_at`

const noteFrom = ` FROM notes n LEFT JOIN users u ON u.id = n.author_id`

func scanNote(s scanner) (*Note, error) {
	var n Note
	var at string
	var purged sql.NullString
	err := s.Scan(&n.ID, &n.ProcessID, &n.AuthorID, &n.AuthorName, &n.AuthorEmail, &at, &n.Body, &n.Corrects, &purged)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("scan note: %w", err)
	}
	n.At, n.PurgedAt = parseTime(at), nullTime(purged)
	return &n, nil
}

// AddNote posts a's note on a process if rule allows (review's rule judges the process as
// it is inside the write), with its audit row (the ids only: the body may hold personal
// data, which retention clears from the note but could not clear from the audit trail).
func (db *DB) AddNote(ctx context.Context, a Actor, nn NewNote, rule Rule) (*Note, error) {
	var id int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.loadCase(ctx, tx, nn.ProcessID, 0)
		if err != nil {
			return err
		}
		if err := rule(c); err != nil {
			return err
		}
		var corrects any
		detail := ""
		if nn.Corrects != 0 {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM notes WHERE id = ? AND process_id = ?", nn.Corrects, nn.ProcessID).Scan(&n); err != nil {
				return fmt.Errorf("add note: %w", err)
			}
			if n == 0 {
				return ErrNoteUnknown
			}
			corrects, detail = nn.Corrects, fmt.Sprintf("; corrects note %d", nn.Corrects)
		}
		if err := tx.QueryRowContext(ctx, "INSERT INTO notes (process_id, author_id, at, body, corrects) VALUES (?, ?, ?, ?, ?) RETURNING id",
			nn.ProcessID, a.UserID, formatTime(c.Now), nn.Body, corrects).Scan(&id); err != nil {
			return fmt.Errorf("add note: %w", err)
		}
		return db.appendAudit(ctx, tx, a, ActionNoteAdd, "process", nn.ProcessID, OutcomeSuccess, fmt.Sprintf("note %d%s", id, detail))
	})
	if err != nil {
		return nil, err
	}
	return db.GetNote(ctx, id)
}

// GetNote returns a note by id, or ErrNotFound.
func (db *DB) GetNote(ctx context.Context, id int64) (*Note, error) {
	return scanNote(db.queryRow(ctx, "SELECT "+noteColumns+noteFrom+" WHERE n.id = ?", id))
}

// purgeNotes clears the bodies of the notes of a purged process inside the purge's
// transaction (P2); the notes keep their author, time and links. It returns how many it
// cleared.
func (db *DB) purgeNotes(ctx context.Context, tx *sql.Tx, processID string, now time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, "UPDATE notes SET body = '', purged_at = ? WHERE process_id = ? AND purged_at IS NULL",
		formatTime(now), processID)
	if err != nil {
		return 0, fmt.Errorf("purge the notes of %s: %w", processID, err)
	}
	return res.RowsAffected()
}
