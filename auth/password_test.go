package auth

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"
)

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

func TestHashVerifyRoundTrip(t *testing.T) {
	h := NewHasher(TestParams)
	passwords := []string{
		"correct horse battery staple",
		"  leading and trailing spaces  ",
		"žluťoučký kůň úpěl ďábelské ódy",
		strings.Repeat("x", 1000),
		"",
	}
	for _, pw := range passwords {
		encoded, err := h.Hash(pw)
		if err != nil {
			t.Fatalf("Hash(%.20q) error: %v", pw, err)
		}
		m := phcPattern.FindStringSubmatch(encoded)
		if m == nil {
			t.Fatalf("Hash(%.20q) = %q, not a PHC argon2id string", pw, encoded)
		}
		if got, want := m[1]+","+m[2]+","+m[3], "64,1,1"; got != want {
			t.Errorf("Hash(%.20q) params m,t,p = %s, want %s", pw, got, want)
		}
		if salt, _ := b64.DecodeString(m[4]); len(salt) != 16 {
			t.Errorf("Hash(%.20q) salt is %d bytes, want 16", pw, len(salt))
		}
		if key, _ := b64.DecodeString(m[5]); len(key) != 32 {
			t.Errorf("Hash(%.20q) key is %d bytes, want 32", pw, len(key))
		}
		ok, rehash, err := h.Verify(pw, encoded)
		if !ok || rehash || err != nil {
			t.Errorf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
		for _, wrong := range []string{pw + "x", strings.TrimSpace(pw) + "!", strings.ToUpper(pw) + "A"} {
			ok, rehash, err := h.Verify(wrong, encoded)
			if ok || rehash || err != nil {
				t.Errorf("Verify(%.20q against hash of %.20q) = %v, %v, %v; want false, false, nil", wrong, pw, ok, rehash, err)
			}
		}
	}
}

func TestVerifyNeverTrims(t *testing.T) {
	h := NewHasher(TestParams)
	encoded, err := h.Hash(" secret passphrase ")
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"secret passphrase", " secret passphrase", "secret passphrase ", " secret passphras"} {
		if ok, _, _ := h.Verify(pw, encoded); ok {
			t.Errorf("Verify(%q) = true against the hash of %q, want false", pw, " secret passphrase ")
		}
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	h := NewHasher(TestParams)
	a, _ := h.Hash("same password for both")
	b, _ := h.Hash("same password for both")
	if a == b {
		t.Errorf("two hashes of one password are equal (%q): salt is not random", a)
	}
}

// Vectors made with the reference implementation's command line (Debian's
// argon2 package): echo -n PASSWORD | argon2 SALT -id -t T -k M -p P -l 32 -e
func TestVerifyReferenceVectors(t *testing.T) {
	tests := []struct {
		password, encoded string
	}{
		{"correct horse battery staple", "$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$08SGGcDJOWTOHrI9opI1oxYYPVyI3Xbz6vQjWzSpV7w"},
		{"password", "$argon2id$v=19$m=256,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$RAW5CJoqSnrdFn0R1j+OxBwkCOHY5F4CuFv0rJgQLlE"},
	}
	h := NewHasher(TestParams)
	for _, tt := range tests {
		ok, rehash, err := h.Verify(tt.password, tt.encoded)
		if !ok || rehash || err != nil {
			t.Errorf("Verify(%q, %q) = %v, %v, %v; want true, false, nil", tt.password, tt.encoded, ok, rehash, err)
		}
		if ok, _, _ := h.Verify(tt.password+".", tt.encoded); ok {
			t.Errorf("Verify(%q, %q) = true, want false", tt.password+".", tt.encoded)
		}
	}
}

// TestDefaultParams checks the production cost against quality bar A1 and
// that a hash made with cheaper parameters is upgraded at the next login.
func TestDefaultParams(t *testing.T) {
	p := DefaultParams
	if p.Memory < 64*1024 || p.Time < 3 || p.Threads < 2 || p.SaltLen < 16 || p.KeyLen < 32 {
		t.Fatalf("DefaultParams = %+v, want at least m=65536 KiB, t=3, p=2, 16-byte salt, 32-byte key", p)
	}
	weak, err := NewHasher(TestParams).Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	def := NewHasher(DefaultParams)
	ok, rehash, err := def.Verify("correct horse battery staple", weak)
	if !ok || !rehash || err != nil {
		t.Fatalf("default Verify(hash with TestParams) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	strong, err := def.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=65536,t=3,p=2$"; !strings.HasPrefix(strong, want) {
		t.Errorf("default Hash = %q, want prefix %q", strong, want)
	}
	ok, rehash, err = def.Verify("correct horse battery staple", strong)
	if !ok || rehash || err != nil {
		t.Errorf("default Verify(default hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	current := Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
	h := NewHasher(current)
	tests := []struct {
		name   string
		stored Params
		want   bool
	}{
		{"same", current, false},
		{"stronger everywhere", Params{Memory: 256, Time: 3, Threads: 4, SaltLen: 32, KeyLen: 64}, false},
		{"less memory", Params{Memory: 64, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"fewer passes", Params{Memory: 128, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"fewer threads", Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"shorter salt", Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 32}, true},
		{"shorter key", Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pw := "violet tractor under nine moons"
			encoded := hashWithParams(tt.stored, pw)
			ok, rehash, err := h.Verify(pw, encoded)
			if !ok || err != nil || rehash != tt.want {
				t.Errorf("Verify(stored %+v) = %v, %v, %v; want true, %v, nil", tt.stored, ok, rehash, err, tt.want)
			}
			if ok, rehash, _ := h.Verify(pw+"!", encoded); ok || rehash {
				t.Errorf("Verify(wrong password) = %v, %v; want false, false", ok, rehash)
			}
		})
	}
}

// hashWithParams builds a PHC string with p and a fixed salt, bypassing Hasher.
func hashWithParams(p Params, password string) string {
	salt := []byte(strings.Repeat("s", int(p.SaltLen)))
	return encodePHC(p, salt, argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen))
}

func TestVerifyMalformed(t *testing.T) {
	salt := b64.EncodeToString([]byte("0123456789abcdef"))
	key := b64.EncodeToString(make([]byte, 32))
	good := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	tests := []struct {
		name, encoded string
	}{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"empty key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"extra field", good("m=64,t=1,p=1") + "$extra"},
		{"no leading dollar", strings.TrimPrefix(good("m=64,t=1,p=1"), "$")},
		{"params out of order", good("t=1,m=64,p=1")},
		{"missing param", good("m=64,t=1")},
		{"extra param", good("m=64,t=1,p=1,k=2")},
		{"keyid param", good("m=64,t=1,p=1,keyid=abc")},
		{"non-numeric", good("m=abc,t=1,p=1")},
		{"negative", good("m=-64,t=1,p=1")},
		{"plus sign", good("m=+64,t=1,p=1")},
		{"leading zero", good("m=064,t=1,p=1")},
		{"space", good("m=64, t=1,p=1")},
		{"zero time", good("m=64,t=0,p=1")},
		{"zero threads", good("m=64,t=1,p=0")},
		{"threads over 255", good("m=64,t=1,p=256")},
		{"memory below 8 per thread", good("m=8,t=1,p=2")},
		{"memory overflows uint32", good("m=4294967296,t=1,p=1")},
		{"memory absurd", good("m=4294967295,t=1,p=1")},
		{"time absurd", good("m=64,t=4294967295,p=1")},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key},
		{"salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$" + b64.EncodeToString([]byte("1234")) + "$" + key},
		{"key too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + b64.EncodeToString(make([]byte, 8))},
		{"key not base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + "a*b"},
		{"non-canonical base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "B"},
		{"trailing newline", good("m=64,t=1,p=1") + "\n"},
	}
	h := NewHasher(TestParams)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify("password", tt.encoded)
			if ok || rehash || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q) = %v, %v, %v; want false, false, ErrMalformedHash", tt.encoded, ok, rehash, err)
			}
		})
	}
	// The template itself is well formed, so the cases above fail for the
	// reason their names give.
	if _, _, err := h.Verify("password", good("m=64,t=1,p=1")); err != nil {
		t.Fatalf("well-formed template: %v", err)
	}
}

func TestHashInvalidParams(t *testing.T) {
	tests := []Params{
		{},
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 4, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 0},
	}
	for _, p := range tests {
		h := NewHasher(p)
		if got, err := h.Hash("violet tractor"); err == nil {
			t.Errorf("NewHasher(%+v).Hash = %q, nil; want an error", p, got)
		}
		h.VerifyDummy("violet tractor") // must not panic
	}
}

func TestVerifyDummy(t *testing.T) {
	for _, p := range []Params{TestParams, {Memory: 128, Time: 2, Threads: 2, SaltLen: 24, KeyLen: 48}} {
		h := NewHasher(p)
		// The dummy costs what a real hash with the Hasher's parameters costs.
		got, salt, key, err := decodePHC(h.dummy)
		if err != nil || got != p {
			t.Errorf("dummy hash %q decodes to %+v, %v; want %+v", h.dummy, got, err, p)
		}
		if len(salt) != int(p.SaltLen) || len(key) != int(p.KeyLen) {
			t.Errorf("dummy salt, key = %d, %d bytes; want %d, %d", len(salt), len(key), p.SaltLen, p.KeyLen)
		}
		for _, pw := range []string{"", "password", "violet tractor under nine moons"} {
			if ok, _, err := h.Verify(pw, h.dummy); ok || err != nil {
				t.Errorf("Verify(%q, dummy) = %v, %v; want false, nil", pw, ok, err)
			}
			h.VerifyDummy(pw)
		}
	}
}

func TestHasherConcurrency(t *testing.T) {
	h := NewHasher(TestParams)
	if got, want := cap(h.sem), runtime.NumCPU(); got != want {
		t.Errorf("semaphore size = %d, want runtime.NumCPU() = %d", got, want)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			pw := fmt.Sprintf("concurrent password %d", i)
			encoded, err := h.Hash(pw)
			if err != nil {
				errs <- err
				return
			}
			if ok, _, err := h.Verify(pw, encoded); !ok || err != nil {
				errs <- fmt.Errorf("Verify(%q) = %v, %v", pw, ok, err)
			}
			h.VerifyDummy(pw)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(h.sem); n != 0 {
		t.Errorf("%d semaphore slots still held after all hashes finished", n)
	}
}
