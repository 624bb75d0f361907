package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/campaignctl/campaignctl/schemas"
)

// runSchema implements `campaignctl schema export [-o FILE]`: write the JSON
// Schema of the campaign objects, generated from the CUE schemas, for editors.
func runSchema(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		w, code := stderr, 2
		if len(args) > 0 {
			w, code = stdout, 0
		}
		fmt.Fprint(w, `Usage: campaignctl schema <command> [flags]

Commands:
  export   write the JSON Schema of campaign objects, for editor completion

Run 'campaignctl schema export -h' for its flags.
`)
		return code
	}
	if args[0] != "export" {
		fmt.Fprintf(stderr, "campaignctl schema: unknown command %q; the only one is export\n", args[0])
		return 2
	}
	return runSchemaExport(args[1:], stdout, stderr)
}

func runSchemaExport(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("schema export", "schema export [-o FILE]", `
Write the JSON Schema (draft 2020-12) of the objects a campaigns tree declares,
generated from the CUE schemas the compiler validates against, so an editor can
complete and check object shapes as you type. It describes shapes (fields,
types, allowed values); some rules, such as what a workflow type requires, only
the compiler checks.

Exit status: 0 on success, 1 if the schema cannot be generated or written, 2
for a usage error.`, `  campaignctl schema export > campaignctl.schema.json
  campaignctl schema export -o .vscode/campaignctl.schema.json`, stderr)
	out := fset.String("o", "", "write to `FILE` instead of stdout (replaced in one step)")
	if code := parseFlags(fset, args); code >= 0 {
		return code
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stderr, "campaignctl schema export: unexpected argument %q; use -o FILE to write to a file\n", fset.Arg(0))
		return 2
	}
	doc, err := schemas.JSONSchema()
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl schema export: %v\n", err)
		return 1
	}
	if *out == "" {
		if _, err := stdout.Write(doc); err != nil {
			fmt.Fprintf(stderr, "campaignctl schema export: %v\n", err)
			return 1
		}
		return 0
	}
	if err := writeNewFile(*out, doc); err != nil {
		fmt.Fprintf(stderr, "campaignctl schema export: %v\n", err)
		return 1
	}
	return 0
}

// writeNewFile writes data to path, replacing it in one step if it exists
// (keeping its permissions), creating it with mode 0644 if not.
func writeNewFile(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return writeAtomically(path, data)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
