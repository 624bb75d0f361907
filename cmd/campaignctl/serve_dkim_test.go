package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDKIMFromFlags(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	file := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(file, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, domain, selector, file, env string
		want                              string // "" ok, "off" nil signer, else error substring
	}{
		{"off", "", "", "", "", "off"},
		{"file", "acme.example", "s1", file, "", ""},
		{"env", "acme.example", "s1", "", string(keyPEM), ""},
		{"both", "acme.example", "s1", file, string(keyPEM), "use one"},
		{"no key", "acme.example", "s1", "", "", "needs a private key"},
		{"no domain", "", "s1", file, "", "need --dkim-domain"},
		{"no selector", "acme.example", "", file, "", "--dkim-selector"},
		{"missing file", "acme.example", "s1", file + ".nope", "", "--dkim-key-file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(dkimKeyEnv, c.env)
			d, err := dkimFromFlags(os.Getenv, c.domain, c.selector, c.file)
			switch c.want {
			case "off":
				if d != nil || err != nil {
					t.Fatalf("got %v, %v; want signing off", d, err)
				}
			case "":
				if err != nil || d == nil || d.Domain() != "acme.example" {
					t.Fatalf("got %v, %v", d, err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one containing %q", err, c.want)
				}
			}
		})
	}
}
