package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
)

// OpenFromTemplate is Open on a copy of a template database: the first call
// with a key in a test binary creates the template and runs setup on it (the
// migrations, say), and every test then gets its own copy
// (CREATE DATABASE ... TEMPLATE), which takes a fraction of what running the
// setup again would. The copy is dropped when the test ends, like Open's.
//
// key names the setup within the test binary: calls with the same key must
// pass the same setup. A setup that fails fails every test that asks for its
// template.
//
// The template lives as long as the test binary: a session of the binary
// holds an advisory lock named after it, and a later binary that creates a
// template drops every template whose lock nobody holds any more (its binary
// has exited, however it ended), so templates never pile up on a cluster
// kept between runs.
func OpenFromTemplate(t testing.TB, key string, setup func(ctx context.Context, db *sqlx.DB) error) (*sqlx.DB, string) {
	t.Helper()
	admin := AdminURL(t)
	tmpl, err := template(admin, key, setup)
	if err != nil {
		t.Fatalf("storetest: template %q: %v", key, err)
	}
	return open(t, newDatabase(t, admin, tmpl))
}

type templateKey struct{ admin, key string }

type templateEntry struct {
	once sync.Once
	name string
	err  error
}

var (
	templatesMu sync.Mutex
	templates   = map[templateKey]*templateEntry{}
	// holders keep, per admin URL, the session whose advisory locks say
	// which templates belong to a live test binary; never closed.
	holders = map[string]*sql.Conn{}
)

// templatePrefix starts every template's name; NewDatabase's names start
// with "t_", so the sweep never touches a test's own database.
const templatePrefix = "tmpl_"

// lockClass is the first half of the advisory lock key (the second is
// hashtext(template name)), so the locks cannot meet the runtime's own.
const lockClass = 71053

func template(admin, key string, setup func(ctx context.Context, db *sqlx.DB) error) (string, error) {
	templatesMu.Lock()
	e, ok := templates[templateKey{admin, key}]
	if !ok {
		e = &templateEntry{}
		templates[templateKey{admin, key}] = e
	}
	templatesMu.Unlock()
	e.once.Do(func() { e.name, e.err = createTemplate(admin, key, setup) })
	return e.name, e.err
}

func createTemplate(admin, key string, setup func(ctx context.Context, db *sqlx.DB) error) (string, error) {
	pool, err := adminPool(admin)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*ddlTimeout)
	defer cancel()

	holder, err := lockHolder(ctx, admin, pool)
	if err != nil {
		return "", err
	}
	sweepTemplates(ctx, pool)

	var b [suffixBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random suffix: %w", err)
	}
	name := templatePrefix + sanitizeKey(key) + "_" + hex.EncodeToString(b[:])
	// Locked before it exists, so no sweep can take it for an orphan.
	templatesMu.Lock()
	_, err = holder.ExecContext(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, lockClass, name)
	templatesMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("advisory lock for %s: %w", name, err)
	}
	if _, err := pool.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(name)+createOptions(ctx, pool, "")); err != nil {
		return "", fmt.Errorf("create database %s on the cluster at %s: %w (is it running? `bash scripts/pg.sh status`)", name, redact(admin), err)
	}
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		return "", err
	}
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", redact(dbURL), err)
	}
	err = setup(ctx, db)
	// A template cannot be copied while anyone is connected to it; Close
	// ends the pool's sessions (CREATE DATABASE waits a few seconds for
	// their backends to exit).
	_ = db.Close()
	if err != nil {
		_, _ = pool.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)")
		return "", fmt.Errorf("setting up %s: %w", name, err)
	}
	return name, nil
}

// lockHolder returns the session that holds this binary's template locks
// on the cluster at admin, opening it on first use.
func lockHolder(ctx context.Context, admin string, pool *sqlx.DB) (*sql.Conn, error) {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	if c, ok := holders[admin]; ok {
		return c, nil
	}
	c, err := pool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(admin), err)
	}
	holders[admin] = c
	return c, nil
}

// sweepTemplates drops the templates no live test binary holds. It is
// housekeeping: a failure leaves a template behind, and fails no test.
func sweepTemplates(ctx context.Context, pool *sqlx.DB) {
	var names []string
	if err := pool.SelectContext(ctx, &names, `SELECT datname FROM pg_database WHERE datname LIKE $1`, templatePrefix+"%"); err != nil {
		return
	}
	if len(names) == 0 {
		return
	}
	c, err := pool.Conn(ctx)
	if err != nil {
		return
	}
	defer c.Close()
	for _, name := range names {
		var free bool
		if err := c.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, lockClass, name).Scan(&free); err != nil || !free {
			continue
		}
		_, _ = c.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)")
		_, _ = c.ExecContext(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, lockClass, name)
	}
}

// sanitizeKey keeps a key's [a-z0-9] runs, joined by "_", at most 20 bytes.
func sanitizeKey(key string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(key) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	s := strings.Trim(b.String(), "_")
	if len(s) > 20 {
		s = s[:20]
	}
	if s == "" {
		s = "db"
	}
	return s
}

var (
	fileCopyMu sync.Mutex
	fileCopy   = map[*sqlx.DB]bool{}
)

// createOptions returns the options of CREATE DATABASE: the template, if
// any, and on Postgres 15 and later STRATEGY FILE_COPY, which copies the
// template's files instead of writing them through the WAL: for the small
// databases of tests it is about half the time of the default.
func createOptions(ctx context.Context, pool *sqlx.DB, template string) string {
	fileCopyMu.Lock()
	fc, ok := fileCopy[pool]
	if !ok {
		var v string
		if err := pool.GetContext(ctx, &v, `SHOW server_version_num`); err == nil {
			n, _ := strconv.Atoi(v)
			fc = n >= 150000
		}
		fileCopy[pool] = fc
	}
	fileCopyMu.Unlock()
	var opts string
	if template != "" {
		opts += " TEMPLATE " + quoteIdent(template)
	}
	if fc {
		opts += " STRATEGY FILE_COPY"
	}
	return opts
}
