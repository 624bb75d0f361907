package inbound

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// maxCommandLine bounds a command line, its CRLF included: go-smtp's
// default, above RFC 5321's 512 octets (§4.5.3.1.4) for clients with long
// parameters.
const maxCommandLine = 2000

// commandLines bounds the length of the command lines a client sends, and
// only of those. go-smtp's own bound (Server.MaxLineLength) applies to a
// message's data as well, and real mail breaks RFC 5321's 1000 octets a line
// of text (HTML on one line, and the DSNs that quote it): such a message was
// refused 554, permanently. A message's data is bounded by its size instead
// (Server.MaxMessageBytes), however long its lines.
//
// commandLines follows the client's side of the SMTP framing as go-smtp
// reads it: after a 354 reply (sawReply), data up to the line "." (the
// state machine of go-smtp's dataReader); after a "BDAT n" command line, n
// octets (go-smtp consumes the chunk even when it refuses the command).
type commandLines struct {
	maxChunk int64 // at most this much of a BDAT chunk goes unbounded

	mode  int
	n     int    // octets of the command line so far
	head  []byte // its start, enough for "BDAT n LAST"
	data  int    // the data's state, as go-smtp's dataReader
	chunk int64  // octets of a BDAT chunk still to come
}

const (
	inCommand = iota
	inData
	inChunk
)

// The states of go-smtp's dataReader.
const (
	dataBeginLine = iota
	dataDot
	dataDotCR
	dataCR
	dataMiddle
)

// sawReply notes a reply the server wrote: 354 starts a message's data.
func (f *commandLines) sawReply(b []byte) {
	if f.mode == inCommand && bytes.HasPrefix(b, []byte("354")) {
		f.mode, f.data = inData, dataBeginLine
	}
}

// scan reads what the client sent next; it fails with smtp.ErrTooLongLine
// (go-smtp answers 500 and closes) once a command line is longer than
// maxCommandLine.
func (f *commandLines) scan(b []byte) error {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch f.mode {
		case inChunk:
			k := min(int64(len(b)-i), f.chunk)
			f.chunk -= k
			i += int(k) - 1
			if f.chunk == 0 {
				f.mode = inCommand
			}
		case inData:
			switch f.data {
			case dataBeginLine:
				switch c {
				case '.':
					f.data = dataDot
				case '\r':
					f.data = dataCR
				default:
					f.data = dataMiddle
				}
			case dataDot:
				f.data = dataMiddle
				if c == '\r' {
					f.data = dataDotCR
				}
			case dataDotCR:
				f.data = dataMiddle
				if c == '\n' {
					f.mode, f.n, f.head = inCommand, 0, f.head[:0]
				}
			case dataCR:
				f.data = dataMiddle
				if c == '\n' {
					f.data = dataBeginLine
				}
			case dataMiddle:
				if c == '\r' {
					f.data = dataCR
				}
			}
		case inCommand:
			if c == '\n' {
				f.endLine()
				continue
			}
			f.n++
			if len(f.head) < 32 {
				f.head = append(f.head, c)
			}
			if f.n >= maxCommandLine { // with its LF, longer than the bound
				return smtp.ErrTooLongLine
			}
		}
	}
	return nil
}

// endLine ends a command line: a BDAT command is followed by its chunk,
// which go-smtp reads whether it takes the command or not, as long as its
// arguments parse (handleBdat).
func (f *commandLines) endLine() {
	line, whole := string(f.head), f.n <= len(f.head)
	f.n, f.head = 0, f.head[:0]
	if !whole {
		return
	}
	args := strings.Fields(line)
	if len(args) < 2 || len(args) > 3 || !strings.EqualFold(args[0], "BDAT") {
		return
	}
	if len(args) == 3 && !strings.EqualFold(args[2], "LAST") {
		return
	}
	size, err := strconv.ParseUint(args[1], 10, 32)
	if err != nil || size == 0 {
		return
	}
	f.mode, f.chunk = inChunk, min(int64(size), f.maxChunk)
}
