package store

import (
	"strings"
	"testing"
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
