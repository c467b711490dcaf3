-- Decisions and their delivery to the gateway (the decision row is the outbox row), the
-- reason catalogue, and a per-user setting.

CREATE TABLE reasons (
	id            INTEGER PRIMARY KEY,
	code          TEXT    NOT NULL UNIQUE CHECK (length(code) BETWEEN 2 AND 40 AND code NOT GLOB '*[^a-z0-9_-]*'),
	label         TEXT    NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
	customer_text TEXT    NOT NULL CHECK (length(customer_text) BETWEEN 1 AND 500),
	position      INTEGER NOT NULL,
	active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	created_at    TEXT    NOT NULL,
	updated_at    TEXT    NOT NULL
) STRICT;

INSERT INTO reasons (code, label, customer_text, position, created_at, updated_at) VALUES
	('document-expired', 'Document expired', 'The identity document has expired. Please start again with a valid document.', 1, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now')),
	('photocopy-or-screen', 'Photocopy or screen', 'The document appears to be a photocopy or a picture of a screen. Please photograph the original document.', 2, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now')),
	('face-mismatch', 'Face does not match', 'The face in the selfie does not match the photo on the document.', 3, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now')),
	('unreadable', 'Document damaged or unreadable', 'The document could not be read. Please take clear, well-lit photos of an undamaged document.', 4, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now')),
	('data-mismatch', 'Data mismatch', 'The data on the document does not match the data provided.', 5, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now')),
	('suspected-forgery', 'Suspected forgery', 'The document could not be verified as authentic.', 6, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now')),
	('under-age', 'Under age', 'The holder of the document is under the required age.', 7, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now')),
	('liveness-failed', 'Liveness failed', 'We could not confirm that a live person took the selfie. Please try again in good light.', 8, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now')),
	('wrong-document', 'Wrong document type', 'The document provided is not an accepted type of identity document.', 9, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'));

CREATE TABLE decisions (
	id              INTEGER PRIMARY KEY,
	process_id      TEXT    NOT NULL REFERENCES processes (id),
	verdict         TEXT    NOT NULL CHECK (verdict IN ('accept', 'reject')),
	reason_id       INTEGER REFERENCES reasons (id),
	comment         TEXT    NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
	internal_note   TEXT    NOT NULL DEFAULT '' CHECK (length(internal_note) <= 2000),
	confirmations   TEXT    NOT NULL DEFAULT '' CHECK (length(confirmations) <= 2000),
	corrections     TEXT    NOT NULL DEFAULT '' CHECK (length(corrections) <= 8000),
	decided_by      INTEGER NOT NULL REFERENCES users (id),
	decided_at      TEXT    NOT NULL,
	state           TEXT    NOT NULL CHECK (state IN ('second_review', 'queued', 'sending', 'delivered', 'conflict', 'parked', 'overturned', 'resolved')),
	second_by       INTEGER REFERENCES users (id),
	second_at       TEXT,
	attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at TEXT,
	ambiguous       INTEGER NOT NULL DEFAULT 0 CHECK (ambiguous IN (0, 1)),
	last_error      TEXT    NOT NULL DEFAULT '' CHECK (length(last_error) <= 500),
	delivered_at    TEXT,
	gateway_status  TEXT    NOT NULL DEFAULT '' CHECK (length(gateway_status) <= 64),
	updated_at      TEXT    NOT NULL,
	CHECK (verdict = 'accept' OR (reason_id IS NOT NULL AND length(comment) > 0))
) STRICT;
-- At most one live decision per process: of many agents deciding at once, one wins (D1).
CREATE UNIQUE INDEX decisions_one_live ON decisions (process_id) WHERE state NOT IN ('overturned');
CREATE INDEX decisions_due ON decisions (state, next_attempt_at);
CREATE INDEX decisions_by ON decisions (decided_by, decided_at);

ALTER TABLE processes ADD COLUMN decided INTEGER NOT NULL DEFAULT 0 CHECK (decided IN (0, 1));
ALTER TABLE users ADD COLUMN next_after_decision INTEGER NOT NULL DEFAULT 1 CHECK (next_after_decision IN (0, 1));
