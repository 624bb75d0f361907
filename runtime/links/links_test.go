package links

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

var (
	secretA = []byte("0123456789abcdef0123")
	secretB = []byte("another-secret-of-16+")
	secretC = []byte("a-third-secret-0123456")
)

// legacyToken is the token format before key ids, written out independently
// of the package (as the pre-rotation Signer.Sign did): these links are in
// inboxes today.
func legacyToken(secret []byte, campaign, step, email string) string {
	payload := campaign + "\x1f" + step + "\x1f" + email
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(payload))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(mac.Sum(nil)[:16])
}

func mustSigner(t testing.TB, current []byte, old ...[]byte) *Signer {
	t.Helper()
	s, err := FromSecrets(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func clickClaims() Claims {
	return Claims{
		Purpose: PurposeClick, Kind: "sequence", Campaign: "restock_nurture", Step: "week1", Variant: "urgent",
		Model: "lead", ContactKey: "42", URL: "https://shop.example/p?id=7&utm=x#top",
		Occurrence: 2, OutboxID: 123456789, IssuedAt: 1_790_000_000,
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := mustSigner(t, secretA)
	for _, c := range []Claims{
		{Purpose: PurposeUnsubscribe, Campaign: "spring", Step: "week1", Email: "ann@example.com"},
		{Purpose: PurposeOpen, Kind: "campaign", Campaign: "spring", Model: "customer", ContactKey: "x\x1fy.z", OutboxID: 1},
		clickClaims(),
		{Purpose: PurposeClick, URL: "http://a", OutboxID: -1, IssuedAt: -5},
	} {
		tok := s.Sign(c)
		got, err := s.Verify(tok, c.Purpose)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		c.KeyID = KeyID(secretA)
		if got != c {
			t.Fatalf("got %+v, want %+v", got, c)
		}
	}
}

func TestSignDefaultsToUnsubscribe(t *testing.T) {
	s := mustSigner(t, secretA)
	tok := s.Sign(Claims{Campaign: "c", Email: "a@example.com"})
	if _, err := s.Verify(tok, PurposeUnsubscribe); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRejectsForgeryAndTampering(t *testing.T) {
	s := mustSigner(t, secretA)
	other := mustSigner(t, secretB)
	tok := s.Sign(clickClaims())
	forged := other.Sign(clickClaims())
	kid, rest, _ := strings.Cut(tok, ".")
	payload, mac, _ := strings.Cut(rest, ".")
	evil := clickClaims()
	evil.URL = "https://evil.example/"
	_, evilRest, _ := strings.Cut(s.Sign(evil), ".")
	evilPayload, _, _ := strings.Cut(evilRest, ".")
	for name, bad := range map[string]string{
		"empty":                    "",
		"no signature":             "abc",
		"dots only":                "..",
		"flipped last byte":        tok[:len(tok)-1] + string(tok[len(tok)-1]^1),
		"other secret":             forged,
		"other secret, our key id": KeyID(secretA) + forged[8:],
		"payload swapped":          kid + "." + evilPayload + "." + mac,
		"truncated mac":            tok[:len(tok)-2],
		"truncated payload":        kid + "." + payload[:len(payload)-4] + "." + mac,
		"mac dropped":              kid + "." + payload,
		"extra part":               tok + ".AAAA",
		"unknown key id":           "deadbeef." + payload + "." + mac,
		"too long":                 tok + strings.Repeat("A", maxTokenLen),
		"legacy signed by other":   legacyToken(secretB, "c", "", "a@example.com"),
	} {
		if _, err := s.Verify(bad, PurposeClick); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: got %v, want ErrBadToken", name, err)
		}
	}
	for i := 0; i <= len(tok); i++ {
		if _, err := s.Verify(tok[:i], PurposeClick); i < len(tok) && err == nil {
			t.Fatalf("truncated to %d of %d characters: accepted", i, len(tok))
		}
	}
}

func TestPurposeCannotBeSwapped(t *testing.T) {
	s := mustSigner(t, secretA)
	all := []Purpose{PurposeUnsubscribe, PurposeOpen, PurposeClick, PurposeConfirm}
	for _, issued := range all {
		c := clickClaims()
		c.Purpose, c.Email = issued, "ann@example.com"
		tok := s.Sign(c)
		for _, used := range all {
			_, err := s.Verify(tok, used)
			if (err == nil) != (issued == used) {
				t.Errorf("issued for %s, used for %s: err %v", issued, used, err)
			}
		}
	}
	// A legacy token is an unsubscribe link and nothing else.
	leg := legacyToken(secretA, "spring", "", "ann@example.com")
	for _, used := range []Purpose{PurposeOpen, PurposeClick} {
		if _, err := s.Verify(leg, used); !errors.Is(err, ErrBadToken) {
			t.Errorf("legacy token used for %s: %v", used, err)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	before := mustSigner(t, secretA)
	oldTok := before.Sign(clickClaims())
	oldLegacy := legacyToken(secretA, "spring", "week1", "ann@example.com")

	// Rotation: B is current, A verifies until retired.
	during := mustSigner(t, secretB, SplitSecrets(" "+string(secretA)+" ,")...)
	if got := during.KeyIDs(); len(got) != 2 || got[0] != KeyID(secretB) || got[1] != KeyID(secretA) {
		t.Fatalf("key ids %v", got)
	}
	c, err := during.Verify(oldTok, PurposeClick)
	if err != nil {
		t.Fatalf("token of the old key after rotation: %v", err)
	}
	if c.KeyID != KeyID(secretA) || c.URL != clickClaims().URL {
		t.Fatalf("claims %+v", c)
	}
	u, err := during.Verify(oldLegacy, PurposeUnsubscribe)
	if err != nil {
		t.Fatalf("legacy unsubscribe link after rotation: %v", err)
	}
	if u.Email != "ann@example.com" || u.Campaign != "spring" || u.Step != "week1" || u.KeyID != "" {
		t.Fatalf("legacy claims %+v", u)
	}
	newTok := during.Sign(clickClaims())
	if !strings.HasPrefix(newTok, KeyID(secretB)+".") {
		t.Fatalf("new token %q not signed with the current key", newTok)
	}

	// Retirement: A is dropped; its tokens fail like forged ones.
	after := mustSigner(t, secretC, secretB)
	for name, tok := range map[string]string{"v1": oldTok, "legacy": oldLegacy} {
		p := PurposeClick
		if name == "legacy" {
			p = PurposeUnsubscribe
		}
		if _, err := after.Verify(tok, p); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s token of a retired key: got %v, want ErrBadToken", name, err)
		}
	}
	if _, err := after.Verify(newTok, PurposeClick); err != nil {
		t.Errorf("token of a key still listed: %v", err)
	}
}

func TestSecretsChecked(t *testing.T) {
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Fatal("want error for short secret")
	}
	if _, err := FromSecrets(secretA, []byte("short")); err == nil {
		t.Fatal("want error for short old secret")
	}
	s, err := FromSecrets(secretA, secretA)
	if err != nil || len(s.KeyIDs()) != 1 {
		t.Fatalf("current repeated as old: %v %v", err, s)
	}
	if got := SplitSecrets(""); got != nil {
		t.Fatalf("SplitSecrets(\"\") = %q", got)
	}
}

// FuzzVerify: Verify never panics, and a token that differs from one we
// issued is never accepted, whatever the mutation.
func FuzzVerify(f *testing.F) {
	s := mustSigner(f, secretA, secretB)
	old := mustSigner(f, secretB)
	valid := map[string]bool{}
	for _, tok := range []string{
		s.Sign(clickClaims()),
		s.Sign(Claims{Purpose: PurposeOpen, Campaign: "c", ContactKey: "1", Model: "m"}),
		s.Sign(Claims{Campaign: "c", Email: "a@example.com"}),
		old.Sign(clickClaims()),
		legacyToken(secretA, "c", "s", "a@example.com"),
		legacyToken(secretB, "c", "", "b@example.com"),
	} {
		valid[tok] = true
		f.Add(tok, byte(0), 0)
	}
	f.Add("", byte(0), 0)
	f.Add("deadbeef..", byte('.'), 9)
	f.Fuzz(func(t *testing.T, tok string, b byte, at int) {
		// Mutate one byte of the input so the seeds' neighbourhood is explored
		// even without coverage guidance.
		if len(tok) > 0 && at >= 0 {
			i := at % len(tok)
			tok = tok[:i] + string([]byte{tok[i] ^ b}) + tok[i+1:]
		}
		for _, p := range []Purpose{PurposeUnsubscribe, PurposeOpen, PurposeClick, 0, 'x'} {
			c, err := s.Verify(tok, p)
			if err == nil && !valid[tok] {
				t.Fatalf("accepted a token we never issued: %q → %+v", tok, c)
			}
			if err == nil && c.Purpose != p {
				t.Fatalf("a %s token was accepted for %s", c.Purpose, p)
			}
			if err != nil && !errors.Is(err, ErrBadToken) {
				t.Fatalf("error %v is not ErrBadToken", err)
			}
		}
	})
}

func BenchmarkSignClick(b *testing.B) {
	s := mustSigner(b, secretA)
	c := clickClaims()
	for b.Loop() {
		s.Sign(c)
	}
}

func BenchmarkVerifyClick(b *testing.B) {
	s := mustSigner(b, secretA, secretB)
	tok := s.Sign(clickClaims())
	for b.Loop() {
		if _, err := s.Verify(tok, PurposeClick); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSignedTokenOnlyForItsPurpose signs claims the fuzzer makes up and
// checks what an attacker holding that token can do with it: verify it for its
// own purpose and get the same claims back; not use it for any other purpose
// (an open pixel's token must never unsubscribe); not shorten it (every strict
// prefix, and every token with one of its parts dropped, is refused); not
// splice another token's signature onto it; and not have it accepted by a
// signer with another secret.
func FuzzSignedTokenOnlyForItsPurpose(f *testing.F) {
	s := mustSigner(f, secretA)
	other := mustSigner(f, secretB)
	f.Add(byte('c'), "sequence", "restock_nurture", "week1", "urgent", "lead", "42", "", "https://shop.example/p?id=7", int64(123))
	f.Add(byte('u'), "campaign", "c", "", "", "", "", "a@example.com", "", int64(0))
	f.Add(byte('o'), "workflow", "w", "s", "b", "m", "k", "", "", int64(-1))
	f.Fuzz(func(t *testing.T, pb byte, kind, campaign, step, variant, model, key, email, url string, id int64) {
		purposes := []Purpose{PurposeUnsubscribe, PurposeOpen, PurposeClick}
		p := purposes[int(pb)%len(purposes)]
		c := Claims{Purpose: p, Kind: kind, Campaign: campaign, Step: step, Variant: variant, Model: model,
			ContactKey: key, Email: email, URL: url, OutboxID: id}
		tok := s.Sign(c)
		if len(tok) > maxTokenLen {
			return // Verify refuses tokens this long by design
		}
		got, err := s.Verify(tok, p)
		if err != nil {
			t.Fatalf("a token we signed for %s is refused: %v", p, err)
		}
		got.KeyID = ""
		if got != c {
			t.Fatalf("claims changed on the way: signed %+v, verified %+v", c, got)
		}
		for _, q := range append(purposes, 0, 'x') {
			if q != p {
				if _, err := s.Verify(tok, q); err == nil {
					t.Fatalf("a %s token was accepted for %s", p, q)
				}
			}
		}
		for i := 0; i < len(tok); i += max(1, len(tok)/16) {
			if _, err := s.Verify(tok[:i], p); err == nil {
				t.Fatalf("the token's first %d of %d bytes were accepted", i, len(tok))
			}
		}
		parts := strings.Split(tok, ".")
		for i := range parts {
			dropped := strings.Join(append(append([]string(nil), parts[:i]...), parts[i+1:]...), ".")
			if _, err := s.Verify(dropped, p); err == nil {
				t.Fatalf("the token without its part %d was accepted", i)
			}
		}
		// Another message's signature spliced on.
		c2 := c
		c2.OutboxID++
		parts2 := strings.Split(s.Sign(c2), ".")
		if _, err := s.Verify(parts[0]+"."+parts[1]+"."+parts2[2], p); err == nil {
			t.Fatal("a token with another token's signature was accepted")
		}
		if _, err := other.Verify(tok, p); err == nil {
			t.Fatal("a signer with another secret accepted the token")
		}
	})
}

// A confirmation token carries its subscription type and expiry (payload
// version 2); a token without either is still version 1, so links already
// in inboxes and the tokens of open and click tracking are unchanged.
func TestConfirmTokenBindsSubscriptionAndExpiry(t *testing.T) {
	s := mustSigner(t, secretA)
	c := Claims{Purpose: PurposeConfirm, Kind: "subscription", Campaign: "blog", Step: "2026-11",
		Model: "lead", ContactKey: "42", Email: "ann@example.com", OutboxID: 9, IssuedAt: 1_790_000_000,
		Subscription: "blog", ExpiresAt: 1_790_003_600}
	tok := s.Sign(c)
	got, err := s.Verify(tok, PurposeConfirm)
	if err != nil {
		t.Fatal(err)
	}
	got.KeyID = ""
	if got != c {
		t.Fatalf("round trip: got %+v, want %+v", got, c)
	}
	if got.Expired(1_790_003_599) || !got.Expired(1_790_003_600) {
		t.Errorf("Expired around ExpiresAt %d is wrong", c.ExpiresAt)
	}
	if (Claims{}).Expired(1 << 40) {
		t.Error("a token without ExpiresAt expired")
	}
	// The expiry is signed: pushing it later breaks the signature.
	kid, rest, _ := strings.Cut(tok, ".")
	p, sig, _ := strings.Cut(rest, ".")
	payload, _ := enc.DecodeString(p)
	later := append([]byte(nil), payload...)
	later[len(later)-1]++
	if _, err := s.Verify(kid+"."+enc.EncodeToString(later)+"."+sig, PurposeConfirm); !errors.Is(err, ErrBadToken) {
		t.Errorf("token with a later expiry verified: %v", err)
	}
	if payload[0] != payloadV2 {
		t.Errorf("confirmation payload version %d, want %d", payload[0], payloadV2)
	}
	// Without Subscription and ExpiresAt the payload stays version 1.
	plain := s.Sign(Claims{Campaign: "spring", Email: "ann@example.com"})
	_, rest, _ = strings.Cut(plain, ".")
	p, _, _ = strings.Cut(rest, ".")
	if b, _ := enc.DecodeString(p); b[0] != payloadVersion {
		t.Errorf("plain unsubscribe payload version %d, want %d", b[0], payloadVersion)
	}
	// An unsubscribe link that names its subscription type round-trips it.
	u := Claims{Purpose: PurposeUnsubscribe, Campaign: "weekly", Email: "ann@example.com", Subscription: "news"}
	if got, err := s.Verify(s.Sign(u), PurposeUnsubscribe); err != nil || got.Subscription != "news" {
		t.Errorf("unsubscribe token with a subscription: %+v, %v", got, err)
	}
}
