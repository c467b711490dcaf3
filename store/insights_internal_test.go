package store

import (
	"context"
	"math"
	"testing"
)

// TestInsightBucketsMatchTheMigration: the bucket bounds the reading side computes are
// those the triggers look up in insight_buckets (migration 0018).
func TestInsightBucketsMatchTheMigration(t *testing.T) {
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.SQL().Query("SELECT bucket, lo FROM insight_buckets ORDER BY bucket")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var b int
		var lo float64
		if err := rows.Scan(&b, &lo); err != nil {
			t.Fatal(err)
		}
		if b != n || math.Abs(lo-bucketStart(b)) > 1e-6*math.Max(1, lo) {
			t.Errorf("bucket %d (row %d) starts at %f, Go says %f", b, n, lo, bucketStart(b))
		}
		n++
	}
	if n != insightBuckets {
		t.Errorf("%d buckets in the migration, %d in Go", n, insightBuckets)
	}
}
