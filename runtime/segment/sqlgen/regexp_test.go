package sqlgen_test

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/runtime/segment/sqlgen"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

func TestTranslateRegexpRefuses(t *testing.T) {
	for pat, why := range map[string]string{
		"(?i)new":              "case",
		`\bnew`:                "word",
		"(?m)^x$":              "multi-line",
		`\pL+`:                 "ranges",
		"a{300}":               "repetition",
		"[^\\x00-\\x{10FFFF}]": "never match",
		"(":                    "invalid",
	} {
		_, err := sqlgen.TranslateRegexp(pat)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: got %v, want an error mentioning %q", pat, err, why)
		}
	}
}

// regexpSubjects are strings on which RE2 and Postgres could disagree: newlines,
// multi-byte characters, case, metacharacters.
var regexpSubjects = []string{"", "a", "ab", "abc", "a.c", "abxc", "ab\nc", "x\ny", "xy", "New", "new", "NEW",
	"new\n", "\nnew", "é", "e\u0301", "É", "ß", "ss", "😀", "a😀b", "aa", "aaa", "aaaa", "%", "_", `\`, "a%b",
	"123", "١٢٣", " ", "\t", "\u00a0", "zz", "abzz", "Zebra", "zebra", "Q", "日本語", "~"}

// TestTranslateRegexpAgreesWithPostgres checks each translatable pattern against
// Go's regexp (what CEL runs) and Postgres' ~ on the same subjects.
func TestTranslateRegexpAgreesWithPostgres(t *testing.T) {
	db, _ := storetest.Open(t)
	patterns := []string{"^New$", "new", "^a.c$", "[a-c]+", "é", "^$", ".", "b$", "x.y", "(?s)x.y", "a|b",
		"^(ab|zz)", "[^a-z]", `\d`, `\D+`, `\s`, `\S`, `\w+`, `\W`, "😀", "a{2,3}", "^a{2}$", "a{2,}", "^.{3}$", "%", "_", `\\`,
		`\.`, "^[A-Z][a-z]+$", "ss|ß", "[[:alpha:]]+", "[[:^digit:]]", `[\d\s]`, "(a|)b", "x*", "^(?:a+)?$", "a+?b",
		"[é-ü]", "^\\x{1F600}", "\\Qa.c\\E", "[^\\n]", "\\A\\z", "(?s).", "^\\$", "[-a]", "[]a]", "[a^]"}
	for _, pat := range patterns {
		pg, err := sqlgen.TranslateRegexp(pat)
		if err != nil {
			t.Errorf("%q: %v", pat, err)
			continue
		}
		re := regexp.MustCompile(pat)
		var want []string
		for _, s := range regexpSubjects {
			if re.MatchString(s) {
				want = append(want, s)
			}
		}
		var got []string
		if err := db.SelectContext(context.Background(), &got,
			`SELECT s FROM unnest($1::text[]) s WHERE s ~ $2`, pq.Array(regexpSubjects), pg); err != nil {
			t.Errorf("%q as %q: %v", pat, pg, err)
			continue
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("%q as %q: Postgres matches %q, RE2 matches %q", pat, pg, got, want)
		}
	}
}
