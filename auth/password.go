package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters (quality bar A1).
type Params struct {
	Memory  uint32 // memory in KiB
	Time    uint32 // number of passes
	Threads uint8  // degree of parallelism
	SaltLen uint32 // salt length in bytes
	KeyLen  uint32 // derived key length in bytes
}

// DefaultParams is the production cost: 64 MiB, 3 passes, 2 lanes, a 16-byte
// salt and a 32-byte key, the minimum the quality bar (A1) allows.
var DefaultParams = Params{Memory: 64 * 1024, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}

// TestParams is a deliberately cheap cost for tests in this and other
// packages. Never use it in production: it is far below DefaultParams.
var TestParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrMalformedHash is wrapped by the error Verify returns when the stored
// string is not a PHC argon2id hash this package can check.
var ErrMalformedHash = errors.New("malformed password hash")

// Limits accepted when parsing a stored hash, so that a corrupt or hostile
// row cannot make Verify allocate gigabytes or spin for minutes.
const (
	minSaltLen  = 8
	maxSaltLen  = 1024
	minKeyLen   = 16
	maxKeyLen   = 1024
	maxMemory   = 4 * 1024 * 1024 // 4 GiB in KiB
	maxTime     = 1000
	phcAlgoName = "argon2id"
)

// Hasher hashes and verifies passwords with argon2id. It is safe for
// concurrent use; at most runtime.NumCPU() hashes run at once, the others
// wait, so a burst of logins cannot exhaust memory (each hash takes
// Params.Memory KiB).
type Hasher struct {
	params Params
	sem    chan struct{}
	dummy  string // PHC string VerifyDummy checks against
}

// NewHasher returns a Hasher that creates hashes with p and asks for a rehash
// of stored hashes weaker than p.
func NewHasher(p Params) *Hasher {
	h := &Hasher{params: p, sem: make(chan struct{}, runtime.NumCPU())}
	// A fixed salt and an all-zero key: no password derives it (2^-8·KeyLen
	// chance), and checking it costs exactly what a real Verify costs.
	h.dummy = encodePHC(p, make([]byte, max(p.SaltLen, minSaltLen)), make([]byte, max(p.KeyLen, minKeyLen)))
	return h
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash derives a new random-salted argon2id hash of password and returns it
// as a PHC string: $argon2id$v=19$m=65536,t=3,p=2$<salt>$<key> (base64 without
// padding). The password is used as given, never trimmed or truncated.
func (h *Hasher) Hash(password string) (string, error) {
	if err := h.params.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := h.derive(password, salt, h.params)
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded, comparing
// in constant time with the parameters stored in encoded. needsRehash is true
// when the password matched and the stored parameters are weaker than the
// Hasher's in any respect: the caller should then Hash the password again and
// store the result. A malformed encoded string returns an error wrapping
// ErrMalformedHash (never a panic).
func (h *Hasher) Verify(password, encoded string) (ok bool, needsRehash bool, err error) {
	p, salt, want, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got := h.derive(password, salt, p)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p.weakerThan(h.params), nil
}

// VerifyDummy spends the same work as Verify against a hash made with the
// Hasher's parameters and throws the result away. Call it when the account is
// unknown (or cannot sign in) so that the answer takes as long as a wrong
// password for a real account (quality bar A4).
func (h *Hasher) VerifyDummy(password string) {
	_, _, _ = h.Verify(password, h.dummy)
}

// derive runs argon2id under the concurrency semaphore.
func (h *Hasher) derive(password string, salt []byte, p Params) []byte {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2 params: time %d out of range", p.Time)
	case p.Threads < 1:
		return fmt.Errorf("argon2 params: threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("argon2 params: memory %d KiB out of range for %d threads", p.Memory, p.Threads)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2 params: salt length %d out of range", p.SaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2 params: key length %d out of range", p.KeyLen)
	}
	return nil
}

// weakerThan reports whether any parameter of p is below the one of target.
func (p Params) weakerThan(target Params) bool {
	return p.Memory < target.Memory || p.Time < target.Time || p.Threads < target.Threads ||
		p.SaltLen < target.SaltLen || p.KeyLen < target.KeyLen
}

var b64 = base64.RawStdEncoding

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$%s$v=%d$m=%d,t=%d,p=%d$%s$%s",
		phcAlgoName, argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$key. The parameters must
// appear in that order, as every argon2 implementation writes them.
func decodePHC(s string) (p Params, salt, key []byte, err error) {
	bad := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want 5 $-separated fields")
	}
	if parts[1] != phcAlgoName {
		return bad("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return bad("want m, t and p parameters")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return bad("want parameter " + name)
		}
		bits := 32
		if name == "p" {
			bits = 8
		}
		n, perr := strconv.ParseUint(v, 10, bits)
		if perr != nil || (len(v) > 1 && v[0] == '0') {
			return bad("invalid parameter " + name)
		}
		vals[i] = n
	}
	p = Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}
	// The decoder skips \r and \n; nothing but the alphabet may appear.
	if !isBase64(parts[4]) || !isBase64(parts[5]) {
		return bad("salt or key is not unpadded base64")
	}
	if salt, err = b64.Strict().DecodeString(parts[4]); err != nil {
		return bad("salt is not base64")
	}
	if key, err = b64.Strict().DecodeString(parts[5]); err != nil {
		return bad("key is not base64")
	}
	if len(salt) > maxSaltLen || len(key) > maxKeyLen {
		return bad("salt or key too long")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if verr := p.validate(); verr != nil {
		return bad(verr.Error())
	}
	return p, salt, key, nil
}

// isBase64 reports whether s is made of the standard base64 alphabet only.
func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
