package bearer

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	if err := Check("X_TOKEN", "0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{
		"short":                  "X_TOKEN is 5 characters long",
		"0123456789abcdef\n":     "position 17 (a trailing newline?)",
		"0123456789 abcdef-long": "position 11",
	} {
		err := Check("X_TOKEN", tok)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), strings.TrimSpace(tok)) && len(tok) > 5 {
			t.Errorf("Check(%q) = %v; want an error saying %q without the token", tok, err, want)
		}
	}
}

const tok32 = "0123456789abcdef0123456789abcdef"

func TestTokenMatches(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{tok32, tok32, true},
		{tok32[:31] + "0", tok32, false}, // same length, last byte differs
		{tok32[:16], tok32, false},       // a prefix
		{tok32 + "0", tok32, false},      // longer
		{"", tok32, false},
		{"", "", false}, // no token configured never matches
		{tok32, "", false},
	} {
		if got := Matches(tc.got, tc.want); got != tc.ok {
			t.Errorf("Matches(%q, %q) = %v, want %v", tc.got, tc.want, got, tc.ok)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, tok string
		ok          bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true}, // the scheme is case-insensitive
		{"Bearer  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"", "", false},
	} {
		r := httptest.NewRequest("POST", "/v1/events", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		tok, ok := FromHeader(r)
		if tok != tc.tok || ok != tc.ok {
			t.Errorf("Authorization %q: got %q, %v; want %q, %v", tc.header, tok, ok, tc.tok, tc.ok)
		}
	}
}
