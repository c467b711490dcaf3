package mobbscan_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"strconv"

	"github.com/mobbscan-review/portal/mobbscan"
)

// deliverAccept shows how a delivery worker sends a decision and reads the
// outcome (D2, D3): a 409 with our verdict, or an ambiguous failure followed
// by a status that already has our verdict, both mean delivered.
func deliverAccept(ctx context.Context, c *mobbscan.Client, id string) (delivered bool, err error) {
	_, err = c.Accept(ctx, id, nil)
	var e *mobbscan.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &e) && errors.Is(err, mobbscan.ErrConflict):
		// Already decided: delivered if the verdict is ours, else a
		// conflict to show the agent.
		return e.CurrentStatus == mobbscan.StatusVerified, err
	case errors.As(err, &e) && e.Ambiguous():
		// The request may have been applied: read before re-sending.
		s, serr := c.Status(ctx, id)
		if serr == nil && s.Status == mobbscan.StatusVerified {
			return true, nil
		}
		return false, err // retry later (honour e.RetryAfter when set)
	default:
		return false, err
	}
}

func Example() {
	c, err := mobbscan.New(mobbscan.Config{
		BaseURL:   "http://127.0.0.1:8081",
		APIKey:    "key",
		APISecret: "secret",
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	p, err := c.Process(ctx, "0f8fad5b-d9cb-469f-a165-70867728950e")
	switch {
	case errors.Is(err, mobbscan.ErrNotFound):
		return
	case err != nil:
		log.Print(err) // names the endpoint and status, never the token or identity data
		return
	}
	if p.Reviewable() {
		if _, err := deliverAccept(ctx, c, p.VerificationID); err != nil {
			log.Print(err)
		}
	}
}

// Evidence streams a video to a browser with its range, type and length.
func ExampleClient_Evidence() {
	c, _ := mobbscan.New(mobbscan.Config{BaseURL: "http://127.0.0.1:8081", APIKey: "key", APISecret: "secret"})
	http.HandleFunc("GET /video/{id}", func(w http.ResponseWriter, r *http.Request) {
		ev, err := c.Evidence(r.Context(), r.PathValue("id"), mobbscan.KindVideoLiveness, r.Header.Get("Range"))
		if err != nil {
			http.Error(w, "evidence unavailable", http.StatusBadGateway)
			return
		}
		defer ev.Body.Close()
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Type", ev.ContentType) // after checking it against an allow-list
		if ev.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(ev.ContentLength, 10))
		}
		if ev.ContentRange != "" {
			w.Header().Set("Content-Range", ev.ContentRange)
		}
		w.WriteHeader(ev.StatusCode)
		io.Copy(w, ev.Body)
	})
}
