package sandbox

import (
	"archive/zip"
	"bytes"
	"container/list"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ImageContentType is the content type of every image evidence.
const ImageContentType = "image/jpeg"

// renderImage draws one image evidence of p and encodes it as JPEG.
func renderImage(p *process, kind string) ([]byte, error) {
	a, err := newDocArt(p)
	if err != nil {
		return nil, err
	}
	var img image.Image
	switch kind {
	case EvidenceDocumentFront:
		if p.DocType == DocPassport {
			img = a.passport()
		} else {
			img = a.front()
		}
	case EvidenceDocumentBack:
		img = a.back()
	case EvidenceFaceDocument:
		img = a.faceDocument()
	case EvidenceFaceNow:
		img = a.faceNow()
	default:
		return nil, fmt.Errorf("%w: unknown image type %q", ErrInvalid, kind)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", kind, err)
	}
	return buf.Bytes(), nil
}

// imageCache keeps recently generated JPEGs (least recently used out) and
// makes concurrent requests for the same image share one generation.
type imageCache struct {
	mu       sync.Mutex
	max      int
	order    *list.List // of *cacheEntry, most recent first
	entries  map[string]*list.Element
	inflight map[string]*generation
}

type cacheEntry struct {
	key  string
	data []byte
}

type generation struct {
	done chan struct{}
	data []byte
	err  error
}

func newImageCache(n int) *imageCache {
	return &imageCache{max: n, order: list.New(), entries: make(map[string]*list.Element), inflight: make(map[string]*generation)}
}

func (c *imageCache) get(key string, gen func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		c.order.MoveToFront(e)
		data := e.Value.(*cacheEntry).data
		c.mu.Unlock()
		return data, nil
	}
	if g, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		<-g.done
		return g.data, g.err
	}
	g := &generation{done: make(chan struct{})}
	c.inflight[key] = g
	c.mu.Unlock()

	g.data, g.err = gen()

	c.mu.Lock()
	delete(c.inflight, key)
	if g.err == nil {
		c.entries[key] = c.order.PushFront(&cacheEntry{key: key, data: g.data})
		for c.order.Len() > c.max {
			last := c.order.Back()
			c.order.Remove(last)
			delete(c.entries, last.Value.(*cacheEntry).key)
		}
	}
	c.mu.Unlock()
	close(g.done)
	return g.data, g.err
}

// purge forgets every image of process id.
func (c *imageCache) purge(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.order.Front(); e != nil; {
		next := e.Next()
		if k := e.Value.(*cacheEntry).key; strings.HasPrefix(k, id+"/") {
			c.order.Remove(e)
			delete(c.entries, k)
		}
		e = next
	}
}

func (c *imageCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.entries)
}

// image returns the JPEG of one image evidence of p.
func (s *Sandbox) image(p *process, kind string) ([]byte, error) {
	return s.images.get(p.ID+"/"+kind, func() ([]byte, error) { return renderImage(p, kind) })
}

// Image returns the JPEG bytes of an image evidence, as the image endpoint
// serves them.
func (s *Sandbox) Image(id, imageType string) ([]byte, error) {
	if !slices.Contains(imageTypes, imageType) {
		return nil, fmt.Errorf("%w: unknown image type %q", ErrInvalid, imageType)
	}
	p, err := s.evidenceProcess(id, imageType)
	if err != nil {
		return nil, err
	}
	return s.image(p, imageType)
}

func (s *Sandbox) serveImage(w http.ResponseWriter, r *http.Request) {
	data, err := s.Image(r.PathValue("id"), r.PathValue("imageType"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ImageContentType)
	h.Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// video returns a reader of the liveness video (padded when a large video
// is configured) and its size.
func (s *Sandbox) video() *videoReader {
	s.mu.Lock()
	size := s.largeVideo
	s.mu.Unlock()
	return newVideoReader(size)
}

func (s *Sandbox) serveRecording(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("recordingType")
	if kind != EvidenceVideoLiveness {
		s.fail(w, r, fmt.Errorf("%w: unknown recording type %q", ErrInvalid, kind))
		return
	}
	if _, err := s.evidenceProcess(r.PathValue("id"), kind); err != nil {
		s.fail(w, r, err)
		return
	}
	v := s.video()
	h := w.Header()
	h.Set("Content-Type", VideoContentType)
	h.Set("Cache-Control", "private, no-store")
	h.Set("ETag", `"liveness-`+strconv.FormatInt(v.size, 10)+`"`)
	http.ServeContent(w, r, "", time.Time{}, v)
}

// serveZip streams every evidence of a process as one ZIP (stored, not
// compressed: JPEG and WebM do not shrink).
func (s *Sandbox) serveZip(w http.ResponseWriter, r *http.Request) {
	p, err := s.get(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	evidences := p.evidences()
	if len(evidences) == 0 {
		s.fail(w, r, fmt.Errorf("%w: %s has no evidence yet", ErrNotFound, p.ID))
		return
	}
	images := make(map[string][]byte)
	for _, e := range evidences {
		if e == EvidenceVideoLiveness {
			continue
		}
		if images[e], err = s.image(p, e); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="`+p.ID+`.zip"`)
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	zw := zip.NewWriter(w)
	for _, e := range evidences {
		name, src := e+".jpg", io.Reader(bytes.NewReader(images[e]))
		if e == EvidenceVideoLiveness {
			name, src = e+".webm", s.video()
		}
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: p.Updated})
		if err == nil {
			_, err = io.Copy(f, src)
		}
		if err != nil {
			s.log.Warn("zip stream interrupted", "verificationId", p.ID, "err", err)
			return
		}
	}
	if err := zw.Close(); err != nil {
		s.log.Warn("zip stream interrupted", "verificationId", p.ID, "err", err)
	}
}
