// Package oidctest runs a real OpenID Provider for the single sign-on tests (issue 9,
// item 2): zitadel's op package (the protocol: discovery, authorize with PKCE, token
// exchange, ID tokens, keys) on httptest, with the smallest in-memory storage that
// works: one confidential web client, and a "login page" that approves whichever
// person the test says is at the provider. Only the storage is ours; nothing of the
// protocol is hand-written. Tests only: no program imports it.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Person is who signs in at the provider.
type Person struct {
	Subject       string
	Email         string
	EmailVerified bool
}

// Provider is an OpenID Provider started by a test.
type Provider struct {
	URL     string // the issuer
	storage *opStorage
	down    *atomic.Bool
}

// SetDown makes the provider answer 503 to everything (unreachable), or not.
func (p *Provider) SetDown(down bool) { p.down.Store(down) }

// New starts a provider that knows one client (id, secret) with its redirect URIs; it
// stops when the test ends.
func New(t testing.TB, clientID, secret string, redirectURIs ...string) *Provider {
	t.Helper()
	s := newOPStorage(t, &opClient{id: clientID, secret: secret, redirectURIs: redirectURIs})
	var handler http.Handler
	down := &atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	provider, err := op.NewProvider(&op.Config{
		CryptoKey: sha256.Sum256([]byte("test op " + t.Name())), CodeMethodS256: true, AuthMethodPost: true,
	}, s, op.StaticIssuer(srv.URL), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("op.NewProvider: %v", err)
	}
	mux := http.NewServeMux()
	// The provider's "login page": no form, the person the test chose is signed in.
	approve := op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("authRequestID")
		if err := s.approve(id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(provider)(r.Context(), id), http.StatusFound)
	})
	mux.Handle("/ui/login", approve)
	mux.Handle("/", provider)
	handler = mux
	return &Provider{URL: srv.URL, storage: s, down: down}
}

// SignInAs sets who is signed in at the provider from now on.
func (p *Provider) SignInAs(person Person) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.person = person
}

// SignWithUnpublishedKey makes the provider sign ID tokens with a key that is not in
// its published key set (a forged or tampered token), or not.
func (p *Provider) SignWithUnpublishedKey(on bool) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.forge = on
}

// SetRedirectURIs replaces the client's registered redirect URIs (a portal whose
// address is known only once it listens).
func (p *Provider) SetRedirectURIs(uris ...string) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.client.redirectURIs = uris
}

// SendWrongNonce makes the provider put another nonce than the portal's in ID tokens.
func (p *Provider) SendWrongNonce(on bool) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.wrongNonce = on
}

// opStorage is op.Storage in memory.
type opStorage struct {
	mu       sync.Mutex
	client   *opClient
	person   Person
	requests map[string]*opAuthRequest
	codes    map[string]string // code → request id
	tokens   map[string]*opToken
	key      opKey
	forgery  opKey // never published
	forge    bool
	seq      int
	// wrongNonce: requests created from now on carry another nonce in their ID token.
	wrongNonce bool
}

func newOPStorage(t testing.TB, c *opClient) *opStorage {
	t.Helper()
	gen := func(id string) opKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatalf("rsa key: %v", err)
		}
		return opKey{id: id, key: k}
	}
	return &opStorage{client: c, requests: map[string]*opAuthRequest{}, codes: map[string]string{},
		tokens: map[string]*opToken{}, key: gen("key-1"), forgery: gen("key-1")}
}

var _ op.Storage = (*opStorage)(nil)

var errOPNotFound = errors.New("not found")

func (s *opStorage) approve(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return errOPNotFound
	}
	r.subject, r.done, r.authTime = s.person.Subject, true, time.Now()
	return nil
}

func (s *opStorage) CreateAuthRequest(_ context.Context, ar *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	r := &opAuthRequest{id: "ar-" + strconv.Itoa(s.seq), req: *ar}
	if s.wrongNonce {
		r.req.Nonce = "not-the-portals-nonce"
	}
	s.requests[r.id] = r
	return r, nil
}

func (s *opStorage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.requests[id]; ok {
		return r, nil
	}
	return nil, errOPNotFound
}

func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errOPNotFound
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *opStorage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest is called once a code is exchanged: the code is spent with it.
func (s *opStorage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *opStorage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	t := &opToken{id: "at-" + strconv.Itoa(s.seq), subject: r.GetSubject(), expires: time.Now().Add(5 * time.Minute)}
	s.tokens[t.id] = t
	return t.id, t.expires, nil
}

func (s *opStorage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("no refresh tokens")
}

func (s *opStorage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errors.New("no refresh tokens")
}

func (s *opStorage) TerminateSession(context.Context, string, string) error { return nil }

func (s *opStorage) RevokeToken(context.Context, string, string, string) *oidc.Error { return nil }

func (s *opStorage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forge {
		return &s.forgery, nil
	}
	return &s.key, nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{opPublicKey{s.key}}, nil
}

func (s *opStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != s.client.id {
		return nil, errOPNotFound
	}
	c := *s.client // a copy: SetRedirectURIs may change the original
	return &c, nil
}

func (s *opStorage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != s.client.id || secret != s.client.secret {
		return errors.New("wrong client or secret")
	}
	return nil
}

func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest puts the person's email in the ID token.
func (s *opStorage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, r op.IDTokenRequest, _ []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	info.Subject = r.GetSubject()
	if s.person.Subject == r.GetSubject() {
		info.Email, info.EmailVerified = s.person.Email, oidc.Bool(s.person.EmailVerified)
	}
	return nil
}

func (s *opStorage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, _, subject, _ string) error {
	info.Subject = subject
	return nil
}

func (s *opStorage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("no introspection")
}

func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errOPNotFound
}

func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("no JWT profile")
}

func (s *opStorage) Health(context.Context) error { return nil }

// opAuthRequest is one authorization request.
type opAuthRequest struct {
	id       string
	req      oidc.AuthRequest
	subject  string
	done     bool
	authTime time.Time
}

func (r *opAuthRequest) GetID() string                      { return r.id }
func (r *opAuthRequest) GetACR() string                     { return "" }
func (r *opAuthRequest) GetAMR() []string                   { return []string{"pwd"} }
func (r *opAuthRequest) GetAudience() []string              { return []string{r.req.ClientID} }
func (r *opAuthRequest) GetAuthTime() time.Time             { return r.authTime }
func (r *opAuthRequest) GetClientID() string                { return r.req.ClientID }
func (r *opAuthRequest) GetNonce() string                   { return r.req.Nonce }
func (r *opAuthRequest) GetRedirectURI() string             { return r.req.RedirectURI }
func (r *opAuthRequest) GetResponseType() oidc.ResponseType { return r.req.ResponseType }
func (r *opAuthRequest) GetResponseMode() oidc.ResponseMode { return r.req.ResponseMode }
func (r *opAuthRequest) GetScopes() []string                { return r.req.Scopes }
func (r *opAuthRequest) GetState() string                   { return r.req.State }
func (r *opAuthRequest) GetSubject() string                 { return r.subject }
func (r *opAuthRequest) Done() bool                         { return r.done }

func (r *opAuthRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if r.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: r.req.CodeChallenge, Method: r.req.CodeChallengeMethod}
}

// opToken is an access token (the portal does not use it).
type opToken struct {
	id, subject string
	expires     time.Time
}

// opClient is the portal, registered as a confidential web client.
type opClient struct {
	id, secret   string
	redirectURIs []string
}

func (c *opClient) GetID() string                       { return c.id }
func (c *opClient) RedirectURIs() []string              { return c.redirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string    { return nil }
func (c *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *opClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *opClient) LoginURL(id string) string            { return "/ui/login?authRequestID=" + id }
func (c *opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration       { return 5 * time.Minute }
func (c *opClient) DevMode() bool                        { return true } // http:// redirect URIs
func (c *opClient) IsScopeAllowed(string) bool           { return false }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true } // email in the ID token
func (c *opClient) ClockSkew() time.Duration             { return 0 }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// opKey is an RSA signing key.
type opKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *opKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *opKey) Key() any                                    { return k.key }
func (k *opKey) ID() string                                  { return k.id }

// opPublicKey is the published half of an opKey.
type opPublicKey struct{ k opKey }

func (p opPublicKey) ID() string                         { return p.k.id }
func (p opPublicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p opPublicKey) Use() string                        { return "sig" }
func (p opPublicKey) Key() any                           { return &p.k.key.PublicKey }
