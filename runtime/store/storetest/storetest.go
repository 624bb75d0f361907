package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // registers the "postgres" driver used by sqlx.Open
)

const (
	// EnvAdminURL holds the admin URL of the running test cluster.
	EnvAdminURL = "CAMPAIGNCTL_TEST_PG"
	// EnvRequireDB, when "1", turns a missing cluster into a test failure.
	EnvRequireDB = "CAMPAIGNCTL_REQUIRE_DB"

	// maxIdentifierLen is Postgres' NAMEDATALEN-1: longer names are silently
	// truncated by the server, which could make two "unique" names collide.
	maxIdentifierLen = 63
	suffixBytes      = 6 // 12 hex characters: collisions are not a practical concern
	// ddlTimeout bounds CREATE/DROP DATABASE so a stuck cluster fails the test
	// instead of hanging it until the go test deadline.
	ddlTimeout = 30 * time.Second
)

// AdminURL returns the admin URL of the test cluster from env CAMPAIGNCTL_TEST_PG.
// When it is unset the test is skipped, or fails if CAMPAIGNCTL_REQUIRE_DB=1.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := strings.TrimSpace(os.Getenv(EnvAdminURL))
	if u != "" {
		return u
	}
	if os.Getenv(EnvRequireDB) == "1" {
		t.Fatalf("storetest: %s is not set but %s=1 requires a database; run the tests with `make test`, which starts the test cluster and sets both",
			EnvAdminURL, EnvRequireDB)
	}
	t.Skipf("storetest: %s is not set, skipping database test; run `make test`, or `bash scripts/pg.sh start` and export %s=<printed url>",
		EnvAdminURL, EnvAdminURL)
	return ""
}

// NewDatabase creates a fresh, uniquely named database (CREATE DATABASE), registers
// t.Cleanup to drop it (WITH (FORCE)), and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, AdminURL(t), "")
}

// newDatabase creates the test's database as a copy of template ("": the
// cluster's default, an empty database).
func newDatabase(t testing.TB, admin, template string) string {
	t.Helper()

	name, err := databaseName(t.Name())
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	pool, err := adminPool(admin)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
	defer cancel()
	// CREATE DATABASE takes no bind parameters; the name is generated from
	// [a-z0-9_] only and quoted anyway.
	if _, err := pool.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(name)+createOptions(ctx, pool, template)); err != nil {
		t.Fatalf("storetest: create database %s on the cluster at %s: %v (is it running? `bash scripts/pg.sh status`)",
			name, redact(admin), err)
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
		defer cancel()
		// FORCE ends sessions a test leaked (an unclosed Rows, a stray pool), which
		// would otherwise make DROP fail and leave databases behind.
		if _, err := pool.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	return dbURL
}

// Open is NewDatabase + sqlx.Open("postgres", url) + Ping, closed on cleanup.
func Open(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	return open(t, NewDatabase(t))
}

func open(t testing.TB, dbURL string) (*sqlx.DB, string) {
	t.Helper()
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", redact(dbURL), err)
	}
	// Registered after NewDatabase's cleanup, so it runs first: the pool is closed
	// before the database is dropped.
	t.Cleanup(func() { _ = db.Close() })
	// Idle connections are kept, as the daemon's pool keeps them
	// (store.SetMaxConns). Tests hand this pool to the code under test, often
	// shared by several engines; with database/sql's default of two idle
	// connections, three replicas of the engine opened 225 Postgres backends
	// in one test, each a fork costing about 30 ms of CPU on a small VM.
	db.SetMaxIdleConns(idleConns)

	ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("storetest: ping %s: %v", redact(dbURL), err)
	}
	return db, dbURL
}

// idleConns is how many idle connections a test database's pool keeps.
const idleConns = 16

var (
	adminMu    sync.Mutex
	adminPools = map[string]*sqlx.DB{}
)

// adminPool returns one shared pool per admin URL. Sharing it avoids a connection
// setup per test; it lives until the test binary exits, which is what we want for
// a pool every test of the package uses.
func adminPool(adminURL string) (*sqlx.DB, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if db, ok := adminPools[adminURL]; ok {
		return db, nil
	}
	db, err := sqlx.Open("postgres", adminURL)
	if err != nil {
		return nil, fmt.Errorf("open admin connection to %s: %w", redact(adminURL), err)
	}
	// Parallel tests create and drop their databases through it at once.
	db.SetMaxIdleConns(idleConns)
	adminPools[adminURL] = db
	return db, nil
}

// databaseName builds "t_<sanitized test name>_<random hex>", at most 63 bytes,
// made of [a-z0-9_] only so it is a valid identifier even unquoted. A name too long
// keeps its start and its end: the end holds the sub-test name, which is what tells
// databases of one table test apart when someone looks at the cluster.
func databaseName(testName string) (string, error) {
	var suffix [suffixBytes]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", fmt.Errorf("random database name suffix: %w", err)
	}
	tail := "_" + hex.EncodeToString(suffix[:])
	const head = "t_"
	room := maxIdentifierLen - len(head) - len(tail)

	var b strings.Builder
	lastUnderscore := true // avoids a "__" right after the "t_" head
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			lastUnderscore = false
		case !lastUnderscore:
			// Anything else ("/", "#", spaces, non-ASCII) becomes a single "_".
			b.WriteByte('_')
			lastUnderscore = true
		}
	}
	name := strings.Trim(b.String(), "_")
	if len(name) > room {
		keepEnd := room / 2
		start := strings.TrimRight(name[:room-keepEnd-1], "_")
		end := strings.TrimLeft(name[len(name)-keepEnd:], "_")
		name = start + "_" + end
	}
	if name == "" {
		name = "test"
	}
	return head + name + tail, nil
}

// withDatabase returns adminURL with its database (the URL path) replaced by name.
func withDatabase(adminURL, name string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", fmt.Errorf("%s=%q is not a postgres:// URL; use the URL printed by `bash scripts/pg.sh start`", EnvAdminURL, redact(adminURL))
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// quoteIdent quotes a Postgres identifier, doubling embedded quotes.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// redact hides a password in a URL so it never ends up in test logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}
