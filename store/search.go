package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// SearchMaxRunes is the longest search text considered: anything after it is ignored.
const SearchMaxRunes = 200

// searchMinRunes is the shortest text the trigram index can match.
const searchMinRunes = 3

// search is a person's search text made safe for the index (process_search, migration
// 0015): the text itself, to compare with ids and references exactly, and a full-text
// query whose terms are all quoted strings ("" for a text too short for trigrams).
//
// The SQL reads the matches as "FROM process_search(?)", the same text on both engines:
// on SQLite that is FTS5's table-valued form of "process_search MATCH ?"; on PostgreSQL
// process_search(query) is a SQL function (migrations/postgres/0002_search.sql) over a
// pg_trgm-indexed table that reads the same quoted terms, folds them as FTS5's tokenizer
// does and requires each as a LIKE substring. Both give the matches' history keys as
// rowid. SearchMatch has no engine to ask (its condition goes into any query over
// processes), so the difference lives in the schema, not here.
type search struct {
	exact string
	match string
}

// exactMatch selects the processes whose id or (unless purged) customer reference is
// exactly the text given twice. Both are indexed: an exact id or reference costs a
// lookup, while the same text through trigrams would read every process sharing its
// common trigrams ("CUS", "ST-"...).
const exactMatch = "SELECT id FROM processes WHERE id = ? OR (customer_ref = ? AND purged_at IS NULL)"

// parseSearch reads a search text. Invalid UTF-8 and control characters (NUL among them)
// separate terms; the text is cut at SearchMaxRunes. A text that is exactly a
// verification id or a customer reference finds that process (or those) only. Otherwise
// each term of at least three characters must occur in the id, the name or the reference
// (in any order, as part of a word, ignoring case and accents); shorter terms cannot use
// the trigram index and are left out, unless all terms are short: then the whole text is
// one term ("li wei"), or, under three characters, only an exact id or reference. Every
// term is a quoted FTS5 string, so the query syntax (", *, -, :, ^, parentheses, AND, OR,
// NOT, NEAR) is plain text. ok is false when there is nothing to search for.
func parseSearch(text string) (s search, ok bool) {
	text = strings.ToValidUTF8(text, " ")
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, text)
	text = strings.TrimSpace(text)
	if utf8.RuneCountInString(text) > SearchMaxRunes {
		text = string([]rune(text)[:SearchMaxRunes])
	}
	terms := strings.Fields(text)
	if len(terms) == 0 {
		return s, false
	}
	var quoted []string
	for _, t := range terms {
		if utf8.RuneCountInString(t) >= searchMinRunes {
			quoted = append(quoted, quoteFTS(t))
		}
	}
	whole := strings.Join(terms, " ")
	s.exact = whole
	switch {
	case len(quoted) > 0:
		s.match = strings.Join(quoted, " AND ")
	case utf8.RuneCountInString(whole) >= searchMinRunes:
		s.match = quoteFTS(whole)
	}
	return s, true
}

// quoteFTS makes s an FTS5 string: inside double quotes (doubled within) nothing is syntax.
func quoteFTS(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// SearchMatch turns a person's search text (a verification id, a customer reference or a
// holder's name, whole or in part, in any case, with or without accents) into a condition
// on the processes aliased p, for any query over "processes p":
//
//	where, args, ok := store.SearchMatch(text)
//	if ok {
//		conds, params = append(conds, where), append(params, args...)
//	}
//
// A text that is exactly an id or a reference selects that process (or those) through
// their indexes; any other text selects the processes that have every term of three
// characters or more in their id, name or reference, through the trigram index. The
// condition is "p.id IN (the matching ids)": SQLite either looks the matches up by id or
// walks the query's own index and checks each row against the set.
//
// It never fails on what a person typed: FTS5 syntax characters are plain text, invalid
// UTF-8 and NUL are ignored, and text beyond SearchMaxRunes is cut. ok is false when the
// text holds nothing to search for (empty or blank): no condition. Purged processes are
// found by id only.
func SearchMatch(text string) (where string, args []any, ok bool) {
	s, ok := parseSearch(text)
	if !ok {
		return "", nil, false
	}
	if s.match == "" {
		return "p.id IN (" + exactMatch + ")", []any{s.exact, s.exact}, true
	}
	// The full-text part runs only when there is no exact match: SQLite tests a WHERE
	// term that depends on no table once, before reading the index.
	return "p.id IN (" + exactMatch + ` UNION ALL
		SELECT sh.process_id FROM process_search(?) JOIN process_history sh ON sh.ak = process_search.rowid
		WHERE NOT EXISTS (` + exactMatch + "))",
		[]any{s.exact, s.exact, s.match, s.exact, s.exact}, true
}

// searchRecentMatches is how many of the most recent full-text matches the queue's
// search considers; see SearchMatchRecent.
const searchRecentMatches = 1000

// searchRecentIDs is the queue's search (used by QueueQuery): a SELECT of the ids of
// the matching processes. An exact id or reference is found whatever its age, but a name
// or a partial text considers only the searchRecentMatches most recent matches in the
// whole history (newest activity first, read in the index's own order), so that a common
// name costs the same however long the history grows. A process in review is among the
// most recent activity, so the queue misses a match only when more than that many newer
// processes share the text: typing more of the name narrows it.
func searchRecentIDs(text string) (sub string, args []any, ok bool) {
	s, ok := parseSearch(text)
	if !ok {
		return "", nil, false
	}
	if s.match == "" {
		return exactMatch, []any{s.exact, s.exact}, true
	}
	return exactMatch + ` UNION ALL
		SELECT sh.process_id FROM (SELECT rowid FROM process_search(?) ORDER BY rowid DESC LIMIT ?) m
		JOIN process_history sh ON sh.ak = m.rowid
		WHERE NOT EXISTS (` + exactMatch + ")",
		[]any{s.exact, s.exact, s.match, searchRecentMatches, s.exact, s.exact}, true
}
