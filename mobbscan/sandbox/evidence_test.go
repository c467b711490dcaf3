package sandbox

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestImagesAndZip checks every image of every document type, then the ZIPs
// of the same processes (from the image cache: generation is the slow part).
func TestImagesAndZip(t *testing.T) {
	h := newHarness(t, Config{})
	ids := map[string]string{}
	for _, docType := range docTypes {
		id := h.seed(SeedSpec{DocType: docType, Silent: true})[0]
		ids[docType] = id
		for _, kind := range imageTypes {
			t.Run(docType+"/"+kind, func(t *testing.T) {
				resp := h.request(http.MethodGet, "/mobbscan-agent/"+id+"/image/"+kind, nil, h.token)
				defer resp.Body.Close()
				if docType == DocPassport && kind == EvidenceDocumentBack {
					if resp.StatusCode != http.StatusNotFound {
						t.Fatalf("passport back: status %d, want 404", resp.StatusCode)
					}
					return
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "image/jpeg" {
					t.Errorf("Content-Type = %q", ct)
				}
				data, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if resp.ContentLength != int64(len(data)) {
					t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(data))
				}
				img, err := jpeg.Decode(bytes.NewReader(data))
				if err != nil {
					t.Fatalf("decoding: %v", err)
				}
				b := img.Bounds()
				if b.Dx() < 200 || b.Dy() < 200 {
					t.Errorf("image is only %v", b)
				}
				if kind == EvidenceDocumentFront && b.Dx() <= b.Dy() {
					t.Errorf("document is not landscape: %v", b)
				}
			})
		}
	}
	for _, docType := range []string{DocIDCard, DocPassport} {
		checkZip(t, h, ids[docType], docType)
	}
}

func TestEvidenceErrors(t *testing.T) {
	h := newHarness(t, Config{})
	done := h.seed(SeedSpec{DocType: DocIDCard, Silent: true})[0]
	created := h.seed(SeedSpec{States: []string{"CREATED"}, Silent: true})[0]
	expired := h.seed(SeedSpec{States: []string{"EXPIRED"}, Silent: true})[0]
	tests := []struct {
		path string
		want int
	}{
		{"/mobbscan-agent/" + done + "/image/selfie", http.StatusBadRequest},
		{"/mobbscan-agent/" + done + "/image/video_liveness", http.StatusBadRequest},
		{"/mobbscan-agent/" + done + "/recording/face_now", http.StatusBadRequest},
		{"/mobbscan-agent/" + done + "/recording/video_selfie", http.StatusBadRequest},
		{"/mobbscan-agent/" + created + "/image/document_front", http.StatusNotFound},
		{"/mobbscan-agent/" + created + "/recording/video_liveness", http.StatusNotFound},
		{"/api/zip/" + created, http.StatusNotFound},
		{"/mobbscan-agent/" + expired + "/image/face_now", http.StatusNotFound},
		{"/api/zip/" + expired, http.StatusNotFound},
	}
	for _, tt := range tests {
		var e errorBody
		if got := h.api(http.MethodGet, tt.path, nil, &e); got != tt.want || e.Code != tt.want {
			t.Errorf("GET %s: %d %+v, want %d", tt.path, got, e, tt.want)
		}
	}
}

func TestImagesAreDeterministic(t *testing.T) {
	render := func() map[string][32]byte {
		sb, err := New(Config{Seed: 99})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		ids, err := sb.Seed(SeedSpec{Silent: true, Failed: []string{ValidationFacialMatching}})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][32]byte{}
		for _, id := range ids {
			for _, kind := range []string{EvidenceDocumentFront, EvidenceFaceNow} {
				data, err := sb.Image(id, kind)
				if err != nil {
					t.Fatal(err)
				}
				out[id+kind] = sha256.Sum256(data)
			}
		}
		return out
	}
	a, b := render(), render()
	if len(a) != 2 {
		t.Fatalf("rendered %d images", len(a))
	}
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s differs between two sandboxes with the same seed", k)
		}
	}
}

func TestSelfieShowsSomeoneElseWhenFacialMatchingFails(t *testing.T) {
	sb, err := New(Config{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	id := must(sb.Seed(SeedSpec{Silent: true, Failed: []string{ValidationFacialMatching}}))[0]
	p, _ := sb.get(id)
	if !p.Identity.OtherFace {
		t.Fatal("identity not marked for another face")
	}
	same := newFaceParams(seedOf(id, "face"), true)
	other := newFaceParams(seedOf(id, "someone else"), true)
	if same == other {
		t.Error("the other person has the same face parameters")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestVideo(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.seed(SeedSpec{Silent: true})[0]
	path := "/mobbscan-agent/" + id + "/recording/video_liveness"

	resp := h.request(http.MethodGet, path, nil, h.token)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/webm" || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
	}
	if !bytes.Equal(data, livenessWebM) {
		t.Fatalf("body is %d bytes, not the %d-byte fixture", len(data), len(livenessWebM))
	}
	if len(livenessWebM) > 300<<10 || !bytes.HasPrefix(livenessWebM, []byte{0x1a, 0x45, 0xdf, 0xa3}) {
		t.Errorf("fixture is %d bytes or not EBML/WebM", len(livenessWebM))
	}

	for _, rng := range []struct {
		header     string
		start, end int
	}{
		{"bytes=0-99", 0, 99},
		{"bytes=1000-", 1000, len(livenessWebM) - 1},
		{"bytes=-500", len(livenessWebM) - 500, len(livenessWebM) - 1},
	} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+h.token)
		req.Header.Set("Range", rng.header)
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantCR := fmt.Sprintf("bytes %d-%d/%d", rng.start, rng.end, len(livenessWebM))
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != wantCR {
			t.Errorf("Range %s: %d %q, want 206 %q", rng.header, resp.StatusCode, resp.Header.Get("Content-Range"), wantCR)
		}
		if !bytes.Equal(part, livenessWebM[rng.start:rng.end+1]) {
			t.Errorf("Range %s: wrong bytes", rng.header)
		}
	}
}

func TestLargeVideo(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.seed(SeedSpec{Silent: true})[0]
	const size = 48 << 20
	h.sb.SetLargeVideo(size)
	resp := h.request(http.MethodGet, "/mobbscan-agent/"+id+"/recording/video_liveness", nil, h.token)
	defer resp.Body.Close()
	if resp.ContentLength != size {
		t.Fatalf("Content-Length = %d, want %d", resp.ContentLength, size)
	}
	head := make([]byte, len(livenessWebM))
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(head, livenessWebM) {
		t.Error("a large video does not start with the real clip")
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n+int64(len(head)) != size {
		t.Errorf("read %d bytes (%v), want %d", n+int64(len(head)), err, size)
	}
}

func TestVideoReaderSeeks(t *testing.T) {
	const size = 200 << 20
	v := newVideoReader(size)
	if end, err := v.Seek(0, io.SeekEnd); err != nil || end != size {
		t.Fatalf("Seek end = %d, %v", end, err)
	}
	at := func(off int64, n int) []byte {
		t.Helper()
		if _, err := v.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		got, err := io.ReadFull(v, b)
		if err != nil && err != io.ErrUnexpectedEOF {
			t.Fatal(err)
		}
		return b[:got]
	}
	fixture := int64(len(livenessWebM))
	if got := at(fixture-10, 20); !bytes.Equal(got[:10], livenessWebM[fixture-10:]) || !bytes.Equal(got[10:], paddingBlock[:10]) {
		t.Error("the padding does not follow the clip")
	}
	if !bytes.Equal(at(size-5000, 100), at(size-5000, 100)) {
		t.Error("padding is not a function of the offset")
	}
	if got := at(size-10, 100); len(got) != 10 {
		t.Errorf("read past the end: %d bytes", len(got))
	}
	if _, err := v.Seek(-1, io.SeekStart); err == nil {
		t.Error("negative seek accepted")
	}
	if small := newVideoReader(10); small.size != fixture {
		t.Errorf("a size below the clip serves %d bytes", small.size)
	}
}

func checkZip(t *testing.T, h *harness, id, docType string) {
	t.Helper()
	resp := h.request(http.MethodGet, "/api/zip/"+id, nil, h.token)
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %v", docType, resp.StatusCode, err)
	}
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "application/zip" || cd != `attachment; filename="`+id+`.zip"` {
		t.Errorf("headers: %q %q", ct, cd)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("%s: reading zip: %v", docType, err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if f.Name == "video_liveness.webm" {
			if !bytes.Equal(content, livenessWebM) {
				t.Errorf("%s: video differs", docType)
			}
		} else if want, err := h.sb.Image(id, strings.TrimSuffix(f.Name, ".jpg")); err != nil || !bytes.Equal(content, want) {
			t.Errorf("%s: %s differs from the image endpoint's (%v)", docType, f.Name, err)
		}
	}
	want := []string{"document_front.jpg", "document_back.jpg", "face_document.jpg", "face_now.jpg", "video_liveness.webm"}
	if docType == DocPassport {
		want = slices.Delete(want, 1, 2)
	}
	if !slices.Equal(names, want) {
		t.Errorf("%s: zip holds %v, want %v", docType, names, want)
	}
}

func TestImageCache(t *testing.T) {
	c := newImageCache(2)
	calls := 0
	gen := func(v string) func() ([]byte, error) {
		return func() ([]byte, error) { calls++; return []byte(v), nil }
	}
	for _, k := range []string{"a/1", "b/1", "a/1", "c/1", "a/1", "b/1"} {
		if got, _ := c.get(k, gen(k)); string(got) != k {
			t.Fatalf("get(%s) = %s", k, got)
		}
	}
	// a/1 stays (recently used); b/1 was evicted by c/1 and generated again.
	if calls != 4 {
		t.Errorf("generated %d times, want 4", calls)
	}
	c.purge("a")
	if _, ok := c.entries["a/1"]; ok {
		t.Error("purge left a/1")
	}
}

func TestConcurrentImageRequestsShareOneGeneration(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.seed(SeedSpec{Silent: true})[0]
	var wg sync.WaitGroup
	sums := make([][32]byte, 8)
	for i := range sums {
		wg.Go(func() {
			data, err := h.sb.Image(id, EvidenceFaceNow)
			if err != nil {
				t.Error(err)
				return
			}
			sums[i] = sha256.Sum256(data)
		})
	}
	wg.Wait()
	for i := range sums {
		if sums[i] != sums[0] {
			t.Fatalf("request %d got different bytes", i)
		}
	}
	if _, err := h.sb.Image(id, "selfie"); err == nil {
		t.Error("unknown image type accepted")
	}
}
