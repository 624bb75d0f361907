//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// Temporary: builds database benchtpl (send benchmark setup) for manual runs.
func TestZZMakeBenchTemplate(t *testing.T) {
	dir := os.Getenv("ZZ_DIR")
	if dir == "" {
		t.Skip()
	}
	bin := filepath.Join(dir, "campaignctl")
	db, dbURL := setupSendCampaign(t, bin, dir, 100000)
	_ = dbURL
	var name string
	db.Get(&name, "select current_database()")
	db.Close()
	admin := sqlx.MustOpen("postgres", storetest.AdminURL(t))
	admin.MustExec(`DROP DATABASE IF EXISTS benchtpl`)
	admin.MustExec(`CREATE DATABASE benchtpl TEMPLATE "` + name + `"`)
	admin.Close()
}
