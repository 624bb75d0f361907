package links

import (
	"errors"
	"testing"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	c := Claims{Campaign: "spring", Step: "week1", Email: "ann@example.com"}
	got, err := s.Verify(s.Sign(c))
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Fatalf("got %+v, want %+v", got, c)
	}
}

func TestVerifyRejectsTampering(t *testing.T) {
	s, _ := NewSigner([]byte("0123456789abcdef0123"))
	other, _ := NewSigner([]byte("another-secret-of-16+"))
	tok := s.Sign(Claims{Campaign: "c", Email: "a@example.com"})
	forged := other.Sign(Claims{Campaign: "c", Email: "victim@example.com"})
	for name, bad := range map[string]string{
		"empty":        "",
		"no signature": "abc",
		"flipped byte": tok[:len(tok)-1] + string(tok[len(tok)-1]^1),
		"other secret": forged,
		"swapped":      forged[:len(forged)-22] + tok[len(tok)-22:],
	} {
		if _, err := s.Verify(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: got %v, want ErrBadToken", name, err)
		}
	}
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Fatal("want error for short secret")
	}
}
