package diff

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes the diff as one JSON document (format_version 1, described in
// docs/diff.md and docs/diff.schema.json), indented, with a trailing newline.
// Values are written as the plan holds them: HTML in a template is not escaped.
func WriteJSON(w io.Writer, d *Diff) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("writing the diff as JSON: %w", err)
	}
	return nil
}
