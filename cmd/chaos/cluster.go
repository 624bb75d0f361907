package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
)

// cluster is the harness's private Postgres cluster, run by scripts/pg.sh on
// a free loopback port: it restarts and stops it, so it never shares one.
type cluster struct {
	script string // scripts/pg.sh
	env    []string
	base   string
	dir    string
	admin  string
}

// startCluster starts a fresh cluster in a fresh directory under the system
// temp dir, opened to the postgres user (pg.sh runs the server as postgres
// when we are root).
func startCluster(script string) (*cluster, error) {
	base, err := os.MkdirTemp("", "campaignctl-chaos-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(base, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &cluster{script: script, base: base, dir: filepath.Join(base, "pg")}
	c.env = append(os.Environ(), "CAMPAIGNCTL_PG_PORT="+strconv.Itoa(port), "CAMPAIGNCTL_PG_DIR="+c.dir)
	out, err := c.pgsh("start")
	if err != nil {
		return c, fmt.Errorf("pg.sh start: %w", err)
	}
	c.admin = lastLine(out)
	// pg.sh turns synchronous_commit off for speed; a crash of the server
	// would then lose acknowledged commits (marked sent, sent again), which is
	// Postgres losing data, not the in-flight window the harness bounds. With
	// it on (fsync stays off: the kernel keeps what was written), an immediate
	// restart keeps every acknowledged commit, as a production server does.
	admin, err := sqlx.Open("postgres", c.admin)
	if err != nil {
		return c, err
	}
	defer admin.Close()
	for _, q := range []string{`ALTER SYSTEM SET synchronous_commit = on`, `SELECT pg_reload_conf()`} {
		if _, err := admin.Exec(q); err != nil {
			return c, fmt.Errorf("%s: %w", q, err)
		}
	}
	return c, nil
}

// close stops the cluster and removes its files.
func (c *cluster) close() error {
	_, err := c.pgsh("stop")
	_ = os.RemoveAll(c.base)
	return err
}

func (c *cluster) createDatabase(name string) (string, error) {
	admin, err := sqlx.Open("postgres", c.admin)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		return "", err
	}
	u, err := url.Parse(c.admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// serverLog finds the cluster's server.log (pg.sh may have put the cluster
// elsewhere and left a pointer file).
func (c *cluster) serverLog() string {
	area := c.dir
	if b, err := os.ReadFile(filepath.Join(c.dir, "cluster-path")); err == nil {
		area = lastLine(string(b))
	}
	return filepath.Join(area, "server.log")
}

// pgsh runs scripts/pg.sh on this cluster and returns its stdout (the URL);
// an error carries its stderr.
func (c *cluster) pgsh(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{c.script}, args...)...)
	cmd.Env = c.env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w\n%s", err, stderr.String())
	}
	return stdout.String(), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
