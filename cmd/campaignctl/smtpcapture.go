package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
)

func runSMTPCapture(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("smtp-capture", "smtp-capture [--listen ADDR] [--dir DIR]", `
Run a local SMTP server that accepts every message and stores it as one .eml file in
DIR, for development and the demo. It listens on loopback only and delivers nothing.`, `  campaignctl smtp-capture --listen 127.0.0.1:2525 --dir .data/mail`, stderr)
	listen := fs.String("listen", "127.0.0.1:2525", "loopback address to listen on")
	dir := fs.String("dir", ".data/mail", "directory for .eml files")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "campaignctl smtp-capture:", err)
		return 1
	}
	srv := smtpcapture.New(*dir)
	addr, err := srv.Start(*listen)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl smtp-capture:", err)
		return 1
	}
	fmt.Fprintf(stdout, "capturing SMTP on %s into %s\n", addr, *dir)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	srv.Close()
	return 0
}
