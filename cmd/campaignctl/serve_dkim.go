package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/campaignctl/campaignctl/runtime/mailer"
)

// dkimKeyEnv holds the DKIM private key (PEM) when --dkim-key-file is not
// given: a secret store can inject it without a file on disk.
const dkimKeyEnv = "CAMPAIGNCTL_DKIM_KEY"

// dkimFromFlags returns the DKIM signer serve's flags ask for, or nil when
// signing is off (no --dkim-domain). A domain without a selector or a key, or a
// key without a domain, is an error: a daemon that silently sends unsigned mail
// fails Gmail's and Yahoo's bulk-sender rules.
func dkimFromFlags(getenv func(string) string, domain, selector, keyFile string) (*mailer.DKIM, error) {
	keyEnv := getenv(dkimKeyEnv)
	if domain == "" {
		if selector != "" || keyFile != "" {
			return nil, errors.New("--dkim-selector and --dkim-key-file need --dkim-domain (the d= domain whose DNS publishes the key)")
		}
		return nil, nil
	}
	var key []byte
	switch {
	case keyFile != "" && keyEnv != "":
		return nil, fmt.Errorf("both --dkim-key-file and $%s are set: use one", dkimKeyEnv)
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("--dkim-key-file: %w", err)
		}
		key = b
	case keyEnv != "":
		key = []byte(keyEnv)
	default:
		return nil, fmt.Errorf("--dkim-domain %s needs a private key: set $%s to the PEM key or pass --dkim-key-file", domain, dkimKeyEnv)
	}
	d, err := mailer.NewDKIM(domain, selector, key)
	if err != nil {
		return nil, err
	}
	return d, nil
}
