package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
)

func TestRedactHidesPasswords(t *testing.T) {
	for _, conn := range []string{
		"postgres://app:s3cret@db.example:5432/crm?sslmode=require",
		"host=db.example user=app password=s3cret dbname=crm",
		"host=db.example password = 's3 cret\\'x' dbname=crm",
	} {
		got := Redact(conn)
		if strings.Contains(got, "s3") {
			t.Errorf("Redact(%q) = %q: password still visible", conn, got)
		}
		if !strings.Contains(got, "db.example") {
			t.Errorf("Redact(%q) = %q: lost the host", conn, got)
		}
	}
	if got := Redact("postgres://postgres@127.0.0.1:55433/postgres"); got != "postgres://postgres@127.0.0.1:55433/postgres" {
		t.Errorf("URL without password changed: %q", got)
	}
}

func TestRedactTable(t *testing.T) {
	for _, tc := range []struct {
		name, conn, secret string
		want               string // exact output, or "" to check only secret and host
		host               string // must stay visible, if set
	}{
		{name: "parsable", conn: "postgres://app:s3cret@db.example:5432/crm?sslmode=require", secret: "s3cret",
			want: "postgres://app:xxxxx@db.example:5432/crm?sslmode=require"},
		{name: "postgresql scheme", conn: "postgresql://app:s3cret@db.example/crm", secret: "s3cret",
			want: "postgresql://app:xxxxx@db.example/crm"},
		{name: "escaped password", conn: "postgres://app:s3%40cr%2Fet@db.example/crm", secret: "s3%40cr",
			want: "postgres://app:xxxxx@db.example/crm"},
		{name: "bad port", conn: "postgres://app:s3cret@db.example:5432x/crm", secret: "s3cret",
			want: "postgres://app:xxxxx@db.example:5432x/crm"},
		{name: "bad escape", conn: "postgres://app:s3c%zzret@db.example:5432/crm", secret: "s3c%zzret",
			want: "postgres://app:xxxxx@db.example:5432/crm"},
		{name: "unescaped hash", conn: "postgres://app:s3c#ret@db.example:5432/crm", secret: "s3c#ret",
			want: "postgres://app:xxxxx@db.example:5432/crm"},
		{name: "unescaped at", conn: "postgres://app:s3c@ret@db.example:5432/crm", secret: "s3c@ret",
			want: "postgres://app:xxxxx@db.example:5432/crm"},
		{name: "unescaped slash", conn: "postgres://app:s3c/ret@db.example:5432/crm", secret: "s3c/ret",
			want: "postgres://app:xxxxx@db.example:5432/crm"},
		{name: "slash parsed as path", conn: "postgres://app:1234/s3cret@db.example/crm", secret: "1234/s3cret",
			want: "postgres://app:xxxxx@db.example/crm"},
		{name: "hash parsed as fragment", conn: "postgres://app:1234#s3cret@db.example/crm", secret: "1234#s3cret",
			want: "postgres://app:xxxxx@db.example/crm"},
		{name: "question mark", conn: "postgres://app:s3c?ret@db.example/crm", secret: "s3c?ret",
			want: "postgres://app:xxxxx@db.example/crm"},
		{name: "issue example", conn: "postgres://app:p@ss#w%zz@db:5432x/crm", secret: "p@ss#w%zz",
			want: "postgres://app:xxxxx@db:5432x/crm"},
		{name: "space", conn: "postgres://app:s3c ret@db.example/crm", secret: "s3c ret",
			want: "postgres://app:xxxxx@db.example/crm"},
		{name: "leading space", conn: " postgres://app:s3cret@db.example/crm", secret: "s3cret",
			want: " postgres://app:xxxxx@db.example/crm"},
		{name: "query password", conn: "postgres://app@db.example/crm?sslmode=require&password=s3cret", secret: "s3cret",
			want: "postgres://app@db.example/crm?sslmode=require&password=xxxxx"},
		{name: "query password first", conn: "postgres://db.example/crm?password=s3cret&sslmode=require", secret: "s3cret",
			want: "postgres://db.example/crm?password=xxxxx&sslmode=require"},
		{name: "query password and sslpassword", conn: "postgres://db.example/crm?password=s3cret&sslpassword=k3y&user=app", secret: "s3cret",
			want: "postgres://db.example/crm?password=xxxxx&sslpassword=xxxxx&user=app"},
		{name: "query password unparsable", conn: "postgres://db.example:x/crm?password=s3c%zz", secret: "s3c%zz",
			want: "postgres://db.example:x/crm?password=xxxxx"},
		{name: "query password with ampersand", conn: "postgres://db.example/crm?password=s3c&ret&sslmode=require", secret: "s3c&ret",
			want: "postgres://db.example/crm?password=xxxxx&sslmode=require"},
		{name: "both", conn: "postgres://app:s3cret@db.example:99999x/crm?password=s3cret2", secret: "s3cret",
			want: "postgres://app:xxxxx@db.example:99999x/crm?password=xxxxx"},
		{name: "no scheme", conn: "app:s3cret@db.example/crm", secret: "s3cret", want: redactedPlaceholder},
		{name: "one slash", conn: "postgres:/app:s3cret@db.example/crm", secret: "s3cret", want: redactedPlaceholder},
		{name: "kv", conn: "host=db.example user=app password=s3cret dbname=crm", secret: "s3cret",
			want: "host=db.example user=app password=xxxxx dbname=crm"},
		{name: "kv quoted", conn: "host=db.example password='s3 cret\\'x' dbname=crm", secret: "cret",
			want: "host=db.example password=xxxxx dbname=crm"},
		{name: "kv spaces around =", conn: "host=db.example password = s3cret dbname=crm", secret: "s3cret",
			want: "host=db.example password = xxxxx dbname=crm"},
		{name: "kv escaped space", conn: `host=db.example password=s3c\ ret dbname=crm`, secret: "ret",
			want: "host=db.example password=xxxxx dbname=crm"},
		{name: "kv unterminated quote", conn: "host=db.example password='s3c ret dbname=crm", secret: "ret",
			want: "host=db.example password=xxxxx"},
		{name: "kv sslpassword", conn: "host=db.example sslpassword=s3cret", secret: "s3cret",
			want: "host=db.example sslpassword=xxxxx"},
		{name: "kv uppercase", conn: "host=db.example PASSWORD=s3cret", secret: "s3cret",
			want: "host=db.example PASSWORD=xxxxx"},
		{name: "no password", conn: "postgres://app@db.example:5432/crm", want: "postgres://app@db.example:5432/crm"},
		{name: "empty", conn: "", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.conn)
			if tc.secret != "" && strings.Contains(got, tc.secret) {
				t.Errorf("Redact(%q) = %q: password still visible", tc.conn, got)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.conn, got, tc.want)
			}
		})
	}
}

// badURLs are connection strings that net/url rejects, with their passwords.
var badURLs = []struct{ conn, secret string }{
	{"postgres://app:s3cret@db.example:5432x/crm", "s3cret"},
	{"postgres://app:p@ss#w%zz@db:5432x/crm", "p@ss#w%zz"},
	{"postgres://app:s3cr3t#x@db.example:5432/crm", "s3cr3t#x"},
	{"postgres://app:s3cr/et@db.example:5432/crm", "s3cr/et"},
	{"postgres://app:s3c%zzret@db.example:5432/crm", "s3c%zzret"},
	{"postgres://app:s3c ret@db.example:5432/crm", "s3c ret"},
	{"postgres://app:s3\"c\\ret@db.example:5432/crm", "s3\"c\\ret"},
	{"postgresql://app:s3c\nret@db.example:5432/crm", "s3c\nret"},
	{"postgres://db.example:5432x/crm?password=s3c%zzret&sslmode=disable", "s3c%zzret"},
}

// secretForms is what must not appear in a scrubbed message: the password, and
// (for the multi-piece ones) its pieces that net/url quotes back.
func secretForms(secret string) []string {
	forms := []string{secret, strconv.Quote(secret), url.QueryEscape(secret)}
	if i := strings.IndexAny(secret, "/#?"); i >= 3 {
		forms = append(forms, secret[:i]) // printed as an invalid port
	}
	return forms
}

func checkScrubbed(t *testing.T, what string, err error, secret string) {
	t.Helper()
	for _, f := range secretForms(secret) {
		if strings.Contains(err.Error(), f) {
			t.Errorf("%s: %q still contains %q", what, err, f)
		}
	}
}

func TestRedactErrorSQLOpenPing(t *testing.T) {
	for _, tc := range badURLs {
		db, err := sql.Open("postgres", tc.conn)
		if err != nil {
			checkScrubbed(t, "sql.Open", RedactError(err, tc.conn), tc.secret)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
		if err == nil {
			t.Fatalf("Ping(%q) succeeded", tc.conn)
		}
		red := RedactError(err, tc.conn)
		checkScrubbed(t, "PingContext", red, tc.secret)
		if !errors.Is(red, err) {
			t.Errorf("errors.Is(RedactError(err), err) = false")
		}
		// As with the lead's wrapping in Open.
		wrapped := fmt.Errorf("connecting to database %s: %w", Redact(tc.conn), red)
		checkScrubbed(t, "wrapped", wrapped, tc.secret)
	}
}

func TestRedactErrorParseURL(t *testing.T) {
	for _, tc := range badURLs {
		_, err := pq.ParseURL(tc.conn) //nolint:staticcheck // deprecated, but it is what the driver runs
		if err == nil {
			t.Fatalf("ParseURL(%q) succeeded", tc.conn)
		}
		red := RedactError(err, tc.conn)
		checkScrubbed(t, "ParseURL", red, tc.secret)
		var uerr *url.Error
		if errors.As(red, &uerr) != errors.As(err, &uerr) {
			t.Errorf("errors.As(*url.Error) changed by RedactError")
		}
	}
}

func TestRedactErrorKeyValue(t *testing.T) {
	conn := "host=db.example password='s3 cr\\'et' dbname=crm"
	err := fmt.Errorf(`missing "=" after %q in connection info string`, "s3 cr'et")
	red := RedactError(err, conn)
	if strings.Contains(red.Error(), "cr'et") {
		t.Errorf("RedactError = %q: password still visible", red)
	}
	if !errors.Is(red, err) {
		t.Errorf("errors.Is(RedactError(err), err) = false")
	}
}

func TestRedactErrorPassThrough(t *testing.T) {
	if RedactError(nil, "postgres://app:s3cret@db/crm") != nil {
		t.Error("RedactError(nil) != nil")
	}
	err := errors.New("connection refused")
	if got := RedactError(err, "postgres://app:s3cret@db/crm"); got != err {
		t.Errorf("RedactError with nothing to scrub = %v, want the same error", got)
	}
	conn := "postgres://app:s3cret@db/crm"
	red := RedactError(fmt.Errorf("dial %s: %w", conn, context.DeadlineExceeded), conn)
	if got, want := red.Error(), "dial postgres://app:xxxxx@db/crm: context deadline exceeded"; got != want {
		t.Errorf("RedactError = %q, want %q", got, want)
	}
	if !errors.Is(red, context.DeadlineExceeded) {
		t.Error("errors.Is(RedactError(err), context.DeadlineExceeded) = false")
	}
}

// fuzzSafe keeps only characters that net/url leaves alone, so that the
// expected redaction is exact.
func fuzzSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func FuzzRedactNeverLeaksPassword(f *testing.F) {
	for _, seed := range []struct{ user, pw, host, port, db string }{
		{"app", "s3cret", "db", "5432", "crm"},
		{"app", "p@ss#w%zz", "db", "5432x", "crm"},
		{"app", "pa#ss", "db", "5432", "crm"},
		{"app", "pa@ss", "db", "5432", "crm"},
		{"app", "1234/secret", "db", "5432", "crm"},
		{"app", "1234#secret", "db", "5432", "crm"},
		{"app", "12?password=secret", "db", "5432", "crm"},
		{"app", "se cret", "db", "5432", "crm"},
		{"app", "se%41cret", "db", "5432", "crm"},
		{"app", "se:cr:et", "db", "", "crm"},
		{"", "secret", "", "", ""},
		{"app", "@@@@", "db", "5432", "crm"},
	} {
		f.Add(seed.user, seed.pw, seed.host, seed.port, seed.db, false)
	}
	f.Fuzz(func(t *testing.T, user, pw, host, port, db string, postgresql bool) {
		user, host, port, db = fuzzSafe(user), fuzzSafe(host), fuzzSafe(port), fuzzSafe(db)
		scheme := "postgres://"
		if postgresql {
			scheme = "postgresql://"
		}
		conn := scheme + user + ":" + pw + "@" + host + ":" + port + "/" + db
		want := scheme + user + ":xxxxx@" + host + ":" + port + "/" + db
		if len(pw) < 4 || strings.Contains(want, pw) {
			return // too short to tell, or there is a copy outside the password
		}
		got := Redact(conn)
		if strings.Contains(got, pw) {
			t.Fatalf("Redact(%q) = %q: password %q visible", conn, got, pw)
		}
		if got != want {
			t.Errorf("Redact(%q) = %q, want %q", conn, got, want)
		}

		msg := "open " + conn + ": boom (" + strconv.Quote(conn) + ")"
		wantMsg := "open " + want + ": boom (" + strconv.Quote(want) + ")"
		if strings.Contains(wantMsg, pw) {
			return
		}
		red := RedactError(errors.New(msg), conn)
		if strings.Contains(red.Error(), pw) {
			t.Fatalf("RedactError(%q) = %q: password %q visible", msg, red, pw)
		}
		if _, err := url.Parse(conn); err != nil {
			wantErr := strings.ReplaceAll(err.Error(), conn, want)
			if strings.Contains(wantErr, pw) {
				return
			}
			if red := RedactError(err, conn); strings.Contains(red.Error(), pw) {
				t.Fatalf("RedactError(%q) = %q: password %q visible", err, red, pw)
			}
		}
	})
}
