package schemas

import (
	"fmt"
	"os"
	"testing"
)

func TestScratch(t *testing.T) {
	in := os.Getenv("IN")
	kind := os.Getenv("KIND")
	if in == "" {
		t.Skip()
	}
	out, errs := Complete(kind, []byte(in))
	fmt.Println(string(out))
	for _, e := range errs {
		fmt.Printf("  %q: %s\n", e.Path, e.Message)
	}
}
