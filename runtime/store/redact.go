package store

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// redactMask replaces a password in redacted connection strings and errors.
const redactMask = "xxxxx"

// redactedPlaceholder is what Redact returns for a connection string whose
// structure it cannot make out well enough to hide just the password.
const redactedPlaceholder = "postgres://(unparseable connection string, redacted)"

var (
	// urlScheme matches the start of a URL connection string, postgres:// or
	// any other scheme://.
	urlScheme = regexp.MustCompile(`^\s*[A-Za-z][A-Za-z0-9+.\-]*://`)

	// keyValueStart matches the start of a key=value connection string.
	keyValueStart = regexp.MustCompile(`^\s*[A-Za-z_][A-Za-z0-9_]*\s*=`)

	// dsnPassword matches the value of password (or sslpassword) in a key=value
	// connection string: quoted (also an unterminated quote, up to the end) or
	// unquoted with backslash escapes.
	dsnPassword = regexp.MustCompile(`(?is)(password\s*=\s*)('(?:[^'\\]|\\.?)*'?|(?:[^\s\\]|\\.?)+)`)

	// queryPasswordKey matches a password (or sslpassword) parameter in a URL
	// query; queryParamStart matches the start of the next parameter.
	queryPasswordKey = regexp.MustCompile(`(?i)[?&][a-z_]*password=`)
	queryParamStart  = regexp.MustCompile(`&[A-Za-z_][A-Za-z0-9_.\-]*=`)
)

// Redact removes the password from a connection string so it can be logged. It
// handles URLs (postgres://, postgresql://) whether or not net/url can parse
// them, passwords in a URL's query (?password=...), and the key=value form with
// the password quoted or not. The host stays visible where the structure allows;
// a string whose structure cannot be made out is replaced by a fixed
// placeholder.
func Redact(conn string) string {
	if loc := urlScheme.FindStringIndex(conn); loc != nil {
		return redactURL(conn, loc[1])
	}
	if keyValueStart.MatchString(conn) {
		return dsnPassword.ReplaceAllString(conn, "${1}"+redactMask)
	}
	if strings.Contains(conn, "@") {
		// user:password@host without a scheme, postgres:/..., and the like.
		return redactedPlaceholder
	}
	return dsnPassword.ReplaceAllString(conn, "${1}"+redactMask)
}

// redactURL redacts a URL connection string; rest starts after "scheme://".
func redactURL(conn string, restStart int) string {
	prefix, rest := conn[:restStart], conn[restStart:]

	// net/url cuts the fragment (#), the query (?) and the path (/) off before
	// it looks for the userinfo's "@", so it misreads a password containing
	// one of those as a host and port, path, query or fragment, and Redacted
	// would then print it. Trust it only when no "@" follows the authority.
	authorityEnd := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authorityEnd = i
	}
	if !strings.Contains(rest[authorityEnd:], "@") {
		if u, err := url.Parse(conn); err == nil && u.Scheme != "" && u.Opaque == "" {
			return redactQueryPasswords(u.Redacted())
		}
	}

	// By hand: the userinfo ends at the last "@" (a password may hold any of
	// "@", "/", "?", "#", ":" when not escaped), and the password is everything
	// after the userinfo's first ":".
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		// No userinfo, so no password in it.
		return prefix + redactQueryPasswords(rest)
	}
	userinfo, hostPart := rest[:at], rest[at+1:]
	if c := strings.IndexByte(userinfo, ':'); c >= 0 {
		userinfo = userinfo[:c+1] + redactMask
	}
	return prefix + userinfo + "@" + redactQueryPasswords(hostPart)
}

// redactQueryPasswords masks the value of every password parameter in a URL
// query. A value runs to the next "&key=" (an unescaped "&" inside the value
// does not end it) or the end of the string.
func redactQueryPasswords(s string) string {
	var b strings.Builder
	for {
		loc := queryPasswordKey.FindStringIndex(s)
		if loc == nil {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:loc[1]])
		b.WriteString(redactMask)
		s = s[loc[1]:]
		next := queryParamStart.FindStringIndex(s)
		if next == nil {
			return b.String()
		}
		s = s[next[0]:]
	}
}

// RedactError returns err with the connection string conn and its password
// scrubbed from the message: every occurrence of conn (raw or Go-quoted, as in
// net/url's `parse "...": ...` errors) is replaced by Redact(conn), and every
// occurrence of the password of at least 3 characters (raw, URL-escaped,
// URL-unescaped, quoted, and the pieces net/url may print as a port or an
// escape) by "xxxxx". errors.Is and errors.As still see the original error
// through Unwrap, so a caller that digs out, say, a *url.Error gets the
// unscrubbed one. RedactError returns nil for a nil err and err itself when
// there is nothing to scrub.
func RedactError(err error, conn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	scrubbed := scrubSecrets(msg, conn)
	if scrubbed == msg {
		return err
	}
	return &RedactedError{Msg: scrubbed, Err: err}
}

// RedactedError is Err with its message replaced by Msg, a rewording that
// leaves out what must not be shown or logged (a password, a contact):
// errors.Is and errors.As still see Err.
type RedactedError struct {
	Msg string
	Err error
}

func (e *RedactedError) Error() string { return e.Msg }
func (e *RedactedError) Unwrap() error { return e.Err }

// scrubSecrets replaces conn and its password in msg.
func scrubSecrets(msg, conn string) string {
	if conn != "" {
		red := Redact(conn)
		msg = strings.ReplaceAll(msg, conn, red)
		msg = strings.ReplaceAll(msg, quoteInner(conn), quoteInner(red))
	}
	secrets := passwordForms(conn)
	// Longest first, so a shorter form does not break up a longer one.
	slices.SortStableFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, redactMask)
	}
	return msg
}

// passwordForms returns the password candidates of conn, under every reading
// (net/url's, by hand, query, key=value), in every form an error may print
// them, at least 3 characters long.
func passwordForms(conn string) []string {
	var raw []string
	add := func(s string) {
		if s != "" {
			raw = append(raw, s)
		}
	}

	if loc := urlScheme.FindStringIndex(conn); loc != nil {
		rest := conn[loc[1]:]
		// By hand: userinfo up to the last "@", or the first.
		for _, at := range []int{strings.LastIndex(rest, "@"), strings.Index(rest, "@")} {
			if at < 0 {
				continue
			}
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				add(pw)
				// The pieces net/url may print: a "port" cut at / ? #, an
				// escape, a "host" after an "@".
				for _, p := range strings.FieldsFunc(pw, func(r rune) bool { return strings.ContainsRune("/?#@:", r) }) {
					add(p)
				}
				// net/url quotes a bad escape it meets: `invalid URL escape "%zz"`.
				for i := strings.IndexByte(pw, '%'); i >= 0; {
					add(pw[i:min(i+3, len(pw))])
					next := strings.IndexByte(pw[i+1:], '%')
					if next < 0 {
						break
					}
					i += 1 + next
				}
			}
		}
		if u, err := url.Parse(strings.TrimSpace(conn)); err == nil {
			if u.User != nil {
				if pw, ok := u.User.Password(); ok {
					add(pw)
				}
			}
			for k, vs := range u.Query() {
				if strings.HasSuffix(strings.ToLower(k), "password") {
					for _, v := range vs {
						add(v)
					}
				}
			}
		}
	}
	for _, m := range dsnPassword.FindAllStringSubmatch(conn, -1) {
		v := m[2]
		add(v)
		if before, _, ok := strings.Cut(v, "&"); ok {
			add(before) // a URL query's password=...&next=...
		}
		if strings.HasPrefix(v, "'") {
			v = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
			add(v)
		}
		add(unescapeBackslashes(v))
	}

	var out []string
	seen := map[string]bool{}
	keep := func(s string) {
		if len(s) >= 3 && s != redactMask && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, pw := range raw {
		forms := []string{pw, url.QueryEscape(pw), url.PathEscape(pw), url.UserPassword("", pw).String()[1:]}
		if u, err := url.PathUnescape(pw); err == nil {
			forms = append(forms, u)
		}
		if u, err := url.QueryUnescape(pw); err == nil {
			forms = append(forms, u)
		}
		for _, f := range forms {
			keep(f)
			keep(quoteInner(f))
			keep(pqEscaper.Replace(f)) // how pq writes a URL's password in key=value form
		}
	}
	return out
}

// pqEscaper escapes a value as lib/pq does when it converts a URL to key=value.
var pqEscaper = strings.NewReplacer(`'`, `\'`, `\`, `\\`)

// quoteInner returns s quoted as by %q, without the surrounding quotes.
func quoteInner(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// unescapeBackslashes undoes key=value backslash escapes.
func unescapeBackslashes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
