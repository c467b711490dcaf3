package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Process sources: how a process entered the index.
const (
	SourceWebhook = "webhook"
	SourceCreated = "created"
	SourceTracked = "tracked"
)

// Errors of claiming and deciding, beside the common sentinels.
var (
	// ErrNotReviewable: the process is not awaiting review (decided, not finished, gone).
	ErrNotReviewable = fmt.Errorf("process is not awaiting review: %w", ErrConflict)
)

// Process is a process as the local index knows it.
type Process struct {
	ID             string
	Source         string
	Status         string // PENDING, VERIFIED, NOT_VERIFIED or UNKNOWN
	RawStatus      string
	Stage          string
	Reviewable     bool
	Final          bool
	Gone           bool // the gateway no longer knows it
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ReviewSince    time.Time // when it entered review; zero when not in review
	Country        string
	DocType        string
	HolderName     string
	CustomerRef    string
	Failed         []string
	ScoreFacial    *float64
	ScoreLiveness  *float64
	ScoreDocument  *float64
	OnboardingURL  string
	ClaimedBy      int64
	ClaimedByName  string
	ClaimedAt      time.Time
	ClaimExpiresAt time.Time
	FirstSeenAt    time.Time
	SyncedAt       time.Time
	SyncDueAt      time.Time
	SyncFailures   int
	SyncError      string
	Decided        bool           // a decision was made here; the gateway may not have it yet
	ClaimSeq       int64          // changes with every claim; a page releases only its own
	Evidence       []EvidenceKind // the evidence the gateway lists for it
	AwaitingSecond bool           // its live decision waits for a second review (four-eyes)
	PurgedAt       time.Time      // when retention or an erasure cleared its identity data; zero if not
	// Escalation: a case an agent passed on to those who decide escalated cases; zero
	// EscalatedAt when it is not escalated.
	EscalatedAt     time.Time
	EscalatedByName string
	EscalationNote  string
	QASampled       bool // picked by QA sampling after the gateway verified it automatically
}

// Escalated reports whether the case waits in the Escalated view.
func (p *Process) Escalated() bool { return !p.EscalatedAt.IsZero() }

// Images returns the evidence images the gateway lists for the process.
func (p *Process) Images() []EvidenceKind {
	var out []EvidenceKind
	for _, k := range p.Evidence {
		if k.IsImage() {
			out = append(out, k)
		}
	}
	return out
}

// ClaimActive reports whether someone holds an unexpired claim at now.
func (p *Process) ClaimActive(now time.Time) bool {
	return p.ClaimedBy != 0 && now.Before(p.ClaimExpiresAt)
}

// Snapshot is what the gateway said of a process, reduced to what the index keeps.
type Snapshot struct {
	ID          string
	Status      string
	RawStatus   string
	Stage       string
	Reviewable  bool
	Final       bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Country     string
	DocType     string
	HolderName  string
	CustomerRef string
	Failed      []string
	Scores      [3]*float64 // facial matching, liveness, document authenticity
	// Partial marks a status-only snapshot: descriptive fields are left as stored.
	Partial       bool
	OnboardingURL string
	Evidence      []EvidenceKind
}

// processColumns ends with AwaitingSecond: its subquery repeats the terms of the
// partial index decisions_one_live so that SQLite looks the one live decision up by
// process id, and a row costs the same however many decisions await a second review.
const processColumns = `p.id, p.source, p.status, p.raw_status, p.stage, p.reviewable, p.final, p.gone, p.created_at, p.updated_at,
	p.review_since, p.country, p.doc_type, p.holder_name, p.customer_ref, p.failed, p.score_facial, p.score_liveness,
	p.score_document, p.onboarding_url, coalesce(p.claimed_by, 0), coalesce(u.display_name, ''), p.claimed_at,
	p.claim_expires_at, p.first_seen_at, p.synced_at, p.sync_due_at, p.sync_failures, p.sync_error, p.decided, p.claim_seq,
	p.evidence, p.purged_at, p.escalated_at, CASE WHEN p.escalated_by IS NULL THEN '' ELSE coalesce((SELECT eu.display_name
		FROM users eu WHERE eu.id = p.escalated_by), '') END, p.escalation_note, p.qa_sampled, p.decided = 1 AND EXISTS (SELECT 1 FROM decisions sd WHERE sd.process_id = p.id AND sd.state <> 'overturned'
		AND sd.superseded_at IS NULL AND sd.state = 'second_review')`

const processFrom = ` FROM processes p LEFT JOIN users u ON u.id = p.claimed_by`

func scanProcess(s scanner) (*Process, error) {
	var p Process
	var created, updated, since, claimedAt, claimExp, synced, purged, escalated sql.NullString
	var firstSeen, due, failed, evidence string
	var sf, sl, sd sql.NullFloat64
	err := s.Scan(&p.ID, &p.Source, &p.Status, &p.RawStatus, &p.Stage, &p.Reviewable, &p.Final, &p.Gone, &created, &updated,
		&since, &p.Country, &p.DocType, &p.HolderName, &p.CustomerRef, &failed, &sf, &sl, &sd, &p.OnboardingURL,
		&p.ClaimedBy, &p.ClaimedByName, &claimedAt, &claimExp, &firstSeen, &synced, &due, &p.SyncFailures, &p.SyncError, &p.Decided, &p.ClaimSeq,
		&evidence, &purged, &escalated, &p.EscalatedByName, &p.EscalationNote, &p.QASampled, &p.AwaitingSecond)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("scan process: %w", err)
	}
	p.CreatedAt, p.UpdatedAt, p.ReviewSince = nullTime(created), nullTime(updated), nullTime(since)
	p.ClaimedAt, p.ClaimExpiresAt, p.SyncedAt = nullTime(claimedAt), nullTime(claimExp), nullTime(synced)
	p.FirstSeenAt, p.SyncDueAt, p.PurgedAt = parseTime(firstSeen), parseTime(due), nullTime(purged)
	p.EscalatedAt = nullTime(escalated)
	p.Failed = splitList(failed)
	for _, k := range splitList(evidence) {
		p.Evidence = append(p.Evidence, EvidenceKind(k))
	}
	p.ScoreFacial, p.ScoreLiveness, p.ScoreDocument = nullFloat(sf), nullFloat(sl), nullFloat(sd)
	return &p, nil
}

func nullFloat(f sql.NullFloat64) *float64 {
	if !f.Valid {
		return nil
	}
	v := f.Float64
	return &v
}

// joinList stores names as ",a,b," so that a LIKE '%,a,%' filter matches whole names.
func joinList(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return "," + strings.Join(names, ",") + ","
}

func splitList(s string) []string {
	s = strings.Trim(s, ",")
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

func optFloat(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// GetProcess returns the indexed process with id, or ErrNotFound.
func (db *DB) GetProcess(ctx context.Context, id string) (*Process, error) {
	return scanProcess(db.queryRow(ctx, "SELECT "+processColumns+processFrom+" WHERE p.id = ?", id))
}

// UpsertProcess records what the gateway said of a process and schedules its next
// status check. A snapshot older than what is stored (by the gateway's last update
// time) is ignored, so a stale read never moves a process backwards (W3). It reports
// whether the stored process changed.
func (db *DB) UpsertProcess(ctx context.Context, source string, s Snapshot, nextSync time.Time) (bool, error) {
	changed := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		changed, err = db.upsertProcess(ctx, tx, source, s, nextSync)
		return err
	})
	return changed, err
}

func (db *DB) upsertProcess(ctx context.Context, tx *sql.Tx, source string, s Snapshot, nextSync time.Time) (bool, error) {
	now := db.now()
	cur, err := scanProcess(tx.QueryRowContext(ctx, "SELECT "+processColumns+processFrom+" WHERE p.id = ?", s.ID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if cur == nil {
		since := any(nil)
		if s.Reviewable {
			since = formatTime(firstNonZero(s.UpdatedAt, now))
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO processes (id, source, status, raw_status, stage, reviewable, final,
			created_at, updated_at, review_since, country, doc_type, holder_name, customer_ref, failed, score_facial,
			score_liveness, score_document, onboarding_url, first_seen_at, synced_at, sync_due_at, evidence)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, source, s.Status, s.RawStatus, s.Stage, boolInt(s.Reviewable), boolInt(s.Final),
			optTime(s.CreatedAt), optTime(s.UpdatedAt), since, s.Country, s.DocType, s.HolderName, s.CustomerRef,
			joinList(s.Failed), optFloat(s.Scores[0]), optFloat(s.Scores[1]), optFloat(s.Scores[2]), s.OnboardingURL,
			formatTime(now), formatTime(now), formatTime(nextSync), joinKinds(s.Evidence))
		if err != nil {
			return false, fmt.Errorf("insert process: %w", err)
		}
		// Case timeline (issue 11): the process entered the index.
		return true, db.recordProcessEvent(ctx, tx, s.ID, now, EventIndexed, s.Status, s.Stage, source)
	}
	if !s.UpdatedAt.IsZero() && !cur.UpdatedAt.IsZero() && s.UpdatedAt.Before(cur.UpdatedAt) {
		// Stale: keep what we have, but the process was reached, so reschedule.
		_, err := tx.ExecContext(ctx, "UPDATE processes SET synced_at = ?, sync_due_at = ?, sync_failures = 0, sync_error = '' WHERE id = ?",
			formatTime(now), formatTime(nextSync), s.ID)
		return false, err
	}
	if cur.Decided && s.Reviewable {
		reopened, err := db.reopenIfPutBack(ctx, tx, s)
		if err != nil {
			return false, err
		}
		cur.Decided = !reopened
	}
	// A process decided here stays out of review whatever the gateway says until the
	// decision is delivered or overturned.
	s.Reviewable = s.Reviewable && !cur.Decided
	changed := cur.Status != s.Status || cur.Stage != s.Stage || cur.Reviewable != s.Reviewable || cur.Gone
	since := optTime(cur.ReviewSince)
	switch {
	case s.Reviewable && !cur.Reviewable:
		since = formatTime(firstNonZero(s.UpdatedAt, now))
	case !s.Reviewable:
		since = nil
	}
	// Descriptive fields: a partial snapshot keeps the stored ones.
	if s.Partial {
		s.CreatedAt, s.UpdatedAt = firstNonZero(s.CreatedAt, cur.CreatedAt), firstNonZero(s.UpdatedAt, cur.UpdatedAt)
		s.Country, s.DocType, s.HolderName, s.CustomerRef = cur.Country, cur.DocType, cur.HolderName, cur.CustomerRef
		s.Failed, s.Evidence = cur.Failed, cur.Evidence
		s.Scores = [3]*float64{cur.ScoreFacial, cur.ScoreLiveness, cur.ScoreDocument}
	} else {
		changed = changed || cur.HolderName != s.HolderName || joinList(cur.Failed) != joinList(s.Failed)
	}
	if s.OnboardingURL == "" {
		s.OnboardingURL = cur.OnboardingURL
	}
	// A process that left review loses its claim; a decided one keeps the claim of its
	// second reviewer.
	claimSQL := ""
	if !s.Reviewable && !cur.Decided {
		claimSQL = ", claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL"
	}
	_, err = tx.ExecContext(ctx, `UPDATE processes SET status = ?, raw_status = ?, stage = ?, reviewable = ?, final = ?, gone = 0,
		created_at = ?, updated_at = ?, review_since = ?, country = ?, doc_type = ?, holder_name = ?, customer_ref = ?,
		failed = ?, score_facial = ?, score_liveness = ?, score_document = ?, onboarding_url = ?, synced_at = ?,
		sync_due_at = ?, sync_failures = 0, sync_error = '', evidence = ?`+claimSQL+` WHERE id = ?`,
		s.Status, s.RawStatus, s.Stage, boolInt(s.Reviewable), boolInt(s.Final), optTime(s.CreatedAt), optTime(s.UpdatedAt),
		since, s.Country, s.DocType, s.HolderName, s.CustomerRef, joinList(s.Failed), optFloat(s.Scores[0]),
		optFloat(s.Scores[1]), optFloat(s.Scores[2]), s.OnboardingURL, formatTime(now), formatTime(nextSync), joinKinds(s.Evidence), s.ID)
	if err != nil {
		return false, fmt.Errorf("update process: %w", err)
	}
	// Case timeline (issue 11): the status or stage at the gateway changed.
	if cur.Status != s.Status || cur.Stage != s.Stage || cur.Gone {
		if err := db.recordProcessEvent(ctx, tx, s.ID, now, EventStatus, s.Status, s.Stage, ""); err != nil {
			return false, err
		}
	}
	return changed, nil
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// MarkSynced records a successful status check that changed nothing.
func (db *DB) MarkSynced(ctx context.Context, id string, nextSync time.Time) error {
	_, err := db.exec(ctx, "UPDATE processes SET synced_at = ?, sync_due_at = ?, sync_failures = 0, sync_error = '' WHERE id = ?",
		formatTime(db.now()), formatTime(nextSync), id)
	return err
}

// MarkSyncFailed records a failed status check and when to try again.
func (db *DB) MarkSyncFailed(ctx context.Context, id, errText string, nextSync time.Time) error {
	if len(errText) > 500 {
		errText = errText[:500]
	}
	_, err := db.exec(ctx, "UPDATE processes SET sync_due_at = ?, sync_failures = sync_failures + 1, sync_error = ? WHERE id = ?",
		formatTime(nextSync), errText, id)
	return err
}

// MarkGone records that the gateway no longer knows a process: it leaves the queue.
func (db *DB) MarkGone(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		var gone bool
		err := tx.QueryRowContext(ctx, "SELECT gone FROM processes WHERE id = ?", id).Scan(&gone)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE processes SET gone = 1, reviewable = 0, review_since = NULL, claimed_by = NULL,
			claimed_at = NULL, claim_expires_at = NULL, synced_at = ?, sync_error = 'unknown to the gateway' WHERE id = ?`, formatTime(now), id); err != nil {
			return err
		}
		if gone {
			return nil
		}
		// Case timeline (issue 11): the gateway no longer knows it.
		return db.recordProcessEvent(ctx, tx, id, now, EventGone, "", "", "")
	})
}

// DueForSync returns ids of non-final processes whose status check is due.
func (db *DB) DueForSync(ctx context.Context, limit int) ([]string, error) {
	rows, err := db.query(ctx, "SELECT id FROM processes WHERE final = 0 AND gone = 0 AND sync_due_at <= ? ORDER BY sync_due_at LIMIT ?",
		formatTime(db.now()), limit)
	if err != nil {
		return nil, fmt.Errorf("due for sync: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// reopenIfPutBack supersedes the delivered decision of a process that the gateway put
// back into review after it (its last update is later than the delivery), so that the
// process is reviewed again. A read taken before the delivery never reopens anything.
func (db *DB) reopenIfPutBack(ctx context.Context, tx *sql.Tx, s Snapshot) (bool, error) {
	if s.UpdatedAt.IsZero() {
		return false, nil
	}
	var id int64
	var state DeliveryState
	var delivered sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT id, state, delivered_at FROM decisions
		WHERE process_id = ? AND state <> 'overturned' AND superseded_at IS NULL`, s.ID).Scan(&id, &state, &delivered)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reopen: %w", err)
	}
	if (state != StateDelivered && state != StateResolved) || !delivered.Valid || !s.UpdatedAt.After(parseTime(delivered.String)) {
		return false, nil
	}
	return true, db.reopen(ctx, tx, s.ID, id, fmt.Sprintf("Mobbscan put it back into review after decision %d was delivered", id))
}

// reopen supersedes decision id of a process the gateway put back into review, so that
// the process is reviewed again, and audits it.
func (db *DB) reopen(ctx context.Context, tx *sql.Tx, processID string, id int64, detail string) error {
	now := formatTime(db.now())
	if _, err := tx.ExecContext(ctx, "UPDATE decisions SET superseded_at = ?, updated_at = ? WHERE id = ?", now, now, id); err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE processes SET decided = 0, final = 0 WHERE id = ?", processID); err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	return db.appendAudit(ctx, tx, System, ActionProcessReopen, "process", processID, OutcomeSuccess, detail)
}

// joinKinds stores evidence kinds like joinList.
func joinKinds(kinds []EvidenceKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return joinList(names)
}
