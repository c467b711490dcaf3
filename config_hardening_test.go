package main

import (
	"io"
	"strings"
	"testing"
)

// hardeningProductionEnv is a production configuration that passes every check.
func hardeningProductionEnv() map[string]string {
	return map[string]string{
		"PORTAL_ENV":                 "production",
		"PORTAL_BASE_URL":            "https://review.example.com",
		"PORTAL_MOBBSCAN_URL":        "https://gateway.example.com",
		"PORTAL_MOBBSCAN_API_KEY":    "portal-key",
		"PORTAL_MOBBSCAN_API_SECRET": "Jx7Qe2LrV9tWm4ZsK1pNc8YhB3uFd6Ga",
		"PORTAL_WEBHOOK_TOKEN":       "3f9c2a7e1b8d4f6a0c5e9b2d7a4f1c8e",
	}
}

// TestProductionRefusesWeakSecretsAndHTTP: a production start refuses an http:// gateway
// and secrets that are short, of low variety or one pattern repeated, naming the
// variable (O2); development starts with anything, sandbox included.
func TestProductionRefusesWeakSecretsAndHTTP(t *testing.T) {
	if _, _, err := parseConfig("serve", nil, hardeningGetenv(hardeningProductionEnv()), io.Discard); err != nil {
		t.Fatalf("a sound production configuration was refused: %v", err)
	}
	tests := []struct {
		name, key, value, want string
	}{
		{"http gateway", "PORTAL_MOBBSCAN_URL", "http://gateway.example.com", "PORTAL_MOBBSCAN_URL must be the gateway's https:// address"},
		{"gateway without host", "PORTAL_MOBBSCAN_URL", "https://", "PORTAL_MOBBSCAN_URL must be the gateway's https:// address"},
		{"32 times a", "PORTAL_WEBHOOK_TOKEN", strings.Repeat("a", 32), "PORTAL_WEBHOOK_TOKEN (or _FILE) has too little variety"},
		{"short token", "PORTAL_WEBHOOK_TOKEN", "3f9c2a7e1b8d4f6a", "PORTAL_WEBHOOK_TOKEN (or _FILE) must have at least 32 characters (it has 16)"},
		{"repeated pattern", "PORTAL_MOBBSCAN_API_SECRET", strings.Repeat("abcdefghij", 4), "PORTAL_MOBBSCAN_API_SECRET (or _FILE) is one short pattern repeated"},
		{"a run", "PORTAL_MOBBSCAN_API_SECRET", "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`", "PORTAL_MOBBSCAN_API_SECRET (or _FILE) is a run of characters"},
		{"short secret", "PORTAL_MOBBSCAN_API_SECRET", "sandbox-secret", "PORTAL_MOBBSCAN_API_SECRET (or _FILE) must have at least 32 characters"},
		{"missing secret", "PORTAL_MOBBSCAN_API_SECRET", "", "PORTAL_MOBBSCAN_API_SECRET (or _FILE) must be set"},
		{"weak optional HMAC", "PORTAL_WEBHOOK_HMAC_SECRET", "0123012301230123012301230123012301", "PORTAL_WEBHOOK_HMAC_SECRET (or _FILE) has too little variety"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := hardeningProductionEnv()
			env[tt.key] = tt.value
			_, _, err := parseConfig("serve", nil, hardeningGetenv(env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), "production start refused") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a refusal saying %q", err, tt.want)
			}
			if tt.value != "" && strings.Contains(err.Error(), tt.value) && tt.key != "PORTAL_MOBBSCAN_URL" {
				t.Errorf("the message contains the secret: %v", err)
			}
		})
	}
	// Development is unaffected: the embedded sandbox, no secrets, a weak token.
	dev := map[string]string{"PORTAL_WEBHOOK_TOKEN": "aaaa", "PORTAL_MOBBSCAN_URL": "http://127.0.0.1:9999"}
	if _, _, err := parseConfig("serve", nil, hardeningGetenv(dev), io.Discard); err != nil {
		t.Errorf("development refused: %v", err)
	}
}

func hardeningGetenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}
