package mobbscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode"
)

// Evidence is a binary evidence stream. The caller must close Body. Reading
// Body never buffers the whole evidence; it fails with an *Error wrapping
// ErrBadResponse beyond MaxEvidenceBytes or when the stream is truncated, and
// ErrUnavailable when the gateway stalls longer than StallTimeout or the
// connection fails.
type Evidence struct {
	Body          io.ReadCloser
	ContentType   string // as sent by the gateway, "" when absent
	ContentLength int64  // -1 when unknown
	ContentRange  string // the Content-Range of a 206, else ""
	StatusCode    int    // 200, or 206 for a range
	Filename      string // from Content-Disposition (base name only), "" when absent
}

// Evidence streams one evidence item of a process: kind is one of the Kind*
// constants (see IsEvidenceKind); the client picks the image or recording
// path. rangeHeader, when it is a bytes range, is passed through as the
// Range header (a 206 answer then carries ContentRange); anything else is
// ignored, as a server would. The call is bounded by DialTimeout,
// HeaderTimeout, then StallTimeout per read and the caller's ctx, never by
// CallTimeout: a long video keeps streaming while bytes flow. Evidence
// returns once the first bytes have arrived; until then a transient failure
// is retried (Config.ReadRetries), after that never.
func (c *Client) Evidence(ctx context.Context, id, kind, rangeHeader string) (*Evidence, error) {
	const ep = "evidence"
	if err := validateID(id); err != nil {
		return nil, errorf(ep, ErrBadRequest, "%v", err)
	}
	recording, ok := evidenceKind(kind)
	if !ok {
		return nil, errorf(ep, ErrBadRequest, "unknown evidence kind")
	}
	p := pathImage(id, kind)
	if recording {
		p = pathRecording(id, kind)
	}
	return c.stream(ctx, ep, p, rangeHeader, "")
}

// ZIP streams all the evidence of a process as one ZIP archive, with the
// same limits as Evidence. Filename defaults to "<id>.zip".
func (c *Client) ZIP(ctx context.Context, id string) (*Evidence, error) {
	const ep = "zip"
	if err := validateID(id); err != nil {
		return nil, errorf(ep, ErrBadRequest, "%v", err)
	}
	return c.stream(ctx, ep, pathZIP(id), "", id+".zip")
}

// stream sends an evidence request and hands over its stream once the first
// bytes have arrived. Until then nothing has reached the caller, so a
// transient failure (see retryable; a body that fails before its first byte
// counts too) is retried like a JSON read; after that, the stream's errors
// are the caller's to see.
func (c *Client) stream(ctx context.Context, ep, p, rangeHeader, filename string) (*Evidence, error) {
	hdr := http.Header{}
	hdr.Set("Accept", "*/*")
	hdr.Set("Accept-Encoding", "identity") // bytes as stored: lengths and ranges stay true
	if r := bytesRange(rangeHeader); r != "" {
		hdr.Set("Range", r)
	}
	for attempt := 1; ; attempt++ {
		ev, transient, err := c.streamOnce(ctx, ep, p, hdr, filename)
		if err == nil || !transient || attempt > c.cfg.ReadRetries || !c.retryPause(ctx, attempt, err) {
			return ev, err
		}
	}
}

// headSize is how much of an evidence body is read before it is handed over.
const headSize = 4 << 10

// streamOnce makes one attempt of an evidence request.
func (c *Client) streamOnce(ctx context.Context, ep, p string, hdr http.Header, filename string) (*Evidence, bool, error) {
	x, err := c.do(ctx, ep, http.MethodGet, p, nil, hdr)
	if err != nil {
		return nil, retryable(err), err
	}
	resp := x.resp
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		e := c.statusError(ep, x, nil)
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			e.ContentRange = resp.Header.Get("Content-Range") // bytes */N: the caller may pass the 416 on
		}
		x.close()
		return nil, retryable(e), e
	}
	if resp.ContentLength > c.cfg.MaxEvidenceBytes {
		x.close()
		return nil, false, &Error{Endpoint: ep, StatusCode: resp.StatusCode, Err: ErrBadResponse,
			Description: fmt.Sprintf("evidence of %d bytes exceeds the cap of %d", resp.ContentLength, c.cfg.MaxEvidenceBytes)}
	}
	b := &evidenceBody{c: c, ep: ep, x: x, stall: c.cfg.StallTimeout, left: c.cfg.MaxEvidenceBytes}
	b.timer = time.AfterFunc(time.Hour, func() { x.cancel(errStalled) })
	b.timer.Stop()
	// Wait for the first bytes (or the end): a failure before them is retried.
	head := make([]byte, headSize)
	n, err := b.read(head)
	for tries := 0; n == 0 && err == nil && tries < 100; tries++ {
		n, err = b.read(head)
	}
	if n == 0 && err != nil && err != io.EOF {
		transient := b.transient
		b.Close()
		return nil, transient, err
	}
	b.head = head[:n]
	ev := &Evidence{
		Body:          b,
		ContentType:   resp.Header.Get("Content-Type"),
		ContentLength: resp.ContentLength,
		StatusCode:    resp.StatusCode,
		Filename:      filename,
	}
	if resp.StatusCode == http.StatusPartialContent {
		ev.ContentRange = resp.Header.Get("Content-Range")
	}
	if f := dispositionFilename(resp.Header.Get("Content-Disposition")); f != "" {
		ev.Filename = f
	}
	return ev, false, nil
}

// evidenceBody guards an evidence stream: a stall timer runs while a Read
// waits, and the total is capped.
type evidenceBody struct {
	c     *Client
	ep    string
	x     *exchange
	stall time.Duration
	timer *time.Timer
	head  []byte // read before the stream was handed over, not yet passed on
	left  int64  // bytes still allowed
	err   error  // sticky error
	// transient: err is the gateway's doing (connection, stall), not the
	// caller's (cancellation, Close) nor the size cap.
	transient bool
}

func (b *evidenceBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	return b.read(p)
}

func (b *evidenceBody) read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more than allowed reveals an overflow
	}
	b.timer.Reset(b.stall)
	n, err := b.x.resp.Body.Read(p)
	b.timer.Stop()
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		b.err = &Error{Endpoint: b.ep, StatusCode: b.x.resp.StatusCode, Err: ErrBadResponse,
			Description: "evidence exceeds the size cap"}
		return n, b.err
	}
	b.left -= int64(n)
	if err == nil || err == io.EOF {
		return n, err
	}
	cause := causeOf(b.x.ctx)
	if b.transient = gatewayFault(cause); b.transient {
		b.c.noteFailure()
	}
	if cause == nil && errors.Is(err, io.ErrUnexpectedEOF) {
		b.err = &Error{Endpoint: b.ep, StatusCode: b.x.resp.StatusCode, Err: ErrBadResponse,
			Description: "truncated evidence stream", cause: err}
	} else {
		e := netError(b.ep, err, cause, true)
		e.StatusCode = b.x.resp.StatusCode
		b.err = e
	}
	return n, b.err
}

// Close releases the connection. It may be called while a Read is blocked.
func (b *evidenceBody) Close() error {
	b.timer.Stop()
	b.x.close()
	return nil
}

// bytesRange returns h when it is a plausible bytes range, else "".
func bytesRange(h string) string {
	h = strings.TrimSpace(h)
	if len(h) > 256 || !strings.HasPrefix(strings.ToLower(h), "bytes=") {
		return ""
	}
	spec := h[len("bytes="):]
	if strings.TrimSpace(spec) == "" {
		return ""
	}
	for _, r := range spec {
		if (r < '0' || r > '9') && r != '-' && r != ',' && r != ' ' {
			return ""
		}
	}
	return h
}

// dispositionFilename returns the base name of a Content-Disposition
// filename, without path or control characters, or "".
func dispositionFilename(cd string) string {
	if cd == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(cd)
	if err != nil {
		return ""
	}
	name := strings.ReplaceAll(params["filename"], `\`, "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' {
			return -1
		}
		return r
	}, name)
	if name == "." || name == "/" || name == ".." || len(name) > 255 {
		return ""
	}
	return strings.TrimSpace(name)
}
