package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Access tokens are HS256 JWTs signed with a per-instance random key, so a
// restart invalidates them (the client renews on 401).

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

type jwtClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
	ID       string `json:"jti"`
}

var errBadToken = errors.New("invalid or expired access token")

func (s *Sandbox) signJWT(c jwtClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	unsigned := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(s.jwtMAC(unsigned)), nil
}

func (s *Sandbox) jwtMAC(unsigned string) []byte {
	m := hmac.New(sha256.New, s.jwtKey)
	m.Write([]byte(unsigned))
	return m.Sum(nil)
}

// issueJWT returns a new access token valid for the current token lifetime.
func (s *Sandbox) issueJWT() (string, error) {
	now := s.now()
	s.mu.Lock()
	lifetime := s.tokenLifetime
	s.stats.TokensIssued++
	n := s.stats.TokensIssued
	s.mu.Unlock()
	return s.signJWT(jwtClaims{
		Issuer:   "mobbscan-sandbox",
		Subject:  s.cfg.APIKey,
		IssuedAt: now.Unix(),
		Expiry:   now.Add(lifetime).Unix(),
		ID:       fmt.Sprintf("t%d", n),
	})
}

// verifyJWT checks the signature and expiry of an access token.
func (s *Sandbox) verifyJWT(token string) error {
	head, rest, ok := strings.Cut(token, ".")
	if !ok || head != jwtHeader {
		return errBadToken
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return errBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.jwtMAC(head+"."+payload)) {
		return errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return errBadToken
	}
	var c jwtClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return errBadToken
	}
	if !s.now().Before(time.Unix(c.Expiry, 0)) {
		return errBadToken
	}
	return nil
}
