package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/mobbscan-review/portal/store"
)

// TestBrowserAuditExport: on the audit log page an admin asks for a period in the future
// and gets the message beside the field with the text kept, then downloads a CSV file.
func TestBrowserAuditExport(t *testing.T) {
	p := startPortal(t, nil)
	ctx := newBrowser(t) // the default browser context, where downloads are allowed below
	email, oneTime := p.adminCredentials(t)
	signIn(t, ctx, p.URL, email, oneTime)
	setPassword(t, ctx, oneTime, "violet tangerine harbour meadow")

	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
	}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}

	step(t, ctx, "ask for the future",
		chromedp.Navigate(p.URL+"/admin/audit"),
		chromedp.WaitVisible(`[data-testid=audit-export-form]`),
		chromedp.SendKeys(`#export-from`, "2099-01-01"),
		chromedp.Click(`[data-testid=export-submit]`),
		chromedp.WaitVisible(`[data-testid=err-from]`),
	)
	if msg := value(t, ctx, "message", chromedp.Text(`[data-testid=err-from]`)); !strings.Contains(msg, "starts in the future") {
		t.Fatalf("message beside From: %q", msg)
	}
	if v := value(t, ctx, "kept", chromedp.Value(`#export-from`)); v != "2099-01-01" {
		t.Fatalf("From after the refusal: %q, want the text kept", v)
	}

	today := time.Now().UTC().Format("2006-01-02")
	step(t, ctx, "download",
		chromedp.Clear(`#export-from`),
		chromedp.SendKeys(`#export-to`, today),
		chromedp.Click(`[data-testid=export-submit]`),
	)
	// Wait for the finished file (Chrome renames it from .crdownload when done).
	want := filepath.Join(dir, "audit-start-"+today+".csv")
	var data []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(want); err == nil && len(b) > 0 {
			data = b
			break
		}
	}
	if data == nil {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("no download at %s; folder holds %v", want, entries)
	}
	recs, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatalf("downloaded CSV: %v", err)
	}
	if !slices.Equal(recs[0], store.AuditColumns) || len(recs) < 3 {
		t.Fatalf("downloaded CSV: %d records, header %q", len(recs), recs[0])
	}
	if got := recs[1][6]; got == "" {
		t.Errorf("first row has no action: %q", recs[1])
	}
}
