package inbound_test

import (
	"bytes"
	"net/mail"
)

func mailParse(raw []byte) (func(string) string, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return m.Header.Get, nil
}
