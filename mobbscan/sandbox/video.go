package sandbox

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// livenessWebM is the video_liveness recording: 4 s, 320x240, VP8 WebM with a
// keyframe every ~0.5 s. Regenerate it with assets/make-video.sh.
//
//go:embed assets/liveness.webm
var livenessWebM []byte

// VideoContentType is the content type of video_liveness.
const VideoContentType = "video/webm"

// paddingBlock is the pattern that pads a large synthetic video.
var paddingBlock = func() []byte {
	b := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// videoReader serves a video of size bytes: the real fixture followed by
// generated padding, computed on the fly so that even hundreds of MiB cost
// no memory. A size at or below the fixture's serves the fixture.
type videoReader struct {
	size, off int64
}

func newVideoReader(size int64) *videoReader {
	return &videoReader{size: max(size, int64(len(livenessWebM)))}
}

func (v *videoReader) Read(p []byte) (int, error) {
	if v.off >= v.size {
		return 0, io.EOF
	}
	if rest := v.size - v.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n := 0
	fixture := int64(len(livenessWebM))
	for n < len(p) {
		if v.off < fixture {
			c := copy(p[n:], livenessWebM[v.off:])
			n += c
			v.off += int64(c)
			continue
		}
		i := (v.off - fixture) % int64(len(paddingBlock))
		c := copy(p[n:], paddingBlock[i:])
		n += c
		v.off += int64(c)
	}
	return n, nil
}

func (v *videoReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = v.off + offset
	case io.SeekEnd:
		abs = v.size + offset
	default:
		return 0, fmt.Errorf("video seek: invalid whence %d", whence)
	}
	if abs < 0 {
		return 0, errors.New("video seek: negative position")
	}
	v.off = abs
	return abs, nil
}
