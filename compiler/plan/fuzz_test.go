package plan

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: a plan file is input (`campaignctl apply plan.json`), so Decode
// never panics on any bytes, and a plan it accepts encodes back to bytes that
// decode to the same plan with the same hash: what apply stores is what was
// reviewed.
func FuzzDecode(f *testing.F) {
	golden, _ := filepath.Glob("../../testdata/compile/*/want.plan.json")
	if len(golden) == 0 {
		f.Fatal("no golden plans under testdata/compile")
	}
	for _, path := range golden {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"format_version": 1}`))
	f.Add([]byte(`{"format_version": 1, "hash": "", "unknown": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		out, err := Encode(p)
		if err != nil {
			t.Fatalf("a decoded plan does not encode: %v", err)
		}
		q, err := Decode(out)
		if err != nil {
			t.Fatalf("the encoding of a decoded plan does not decode: %v\n%s", err, out)
		}
		if q.Hash != p.Hash {
			t.Fatalf("hash changed on a round trip: %s → %s", p.Hash, q.Hash)
		}
		again, err := Encode(q)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("encoding is not stable: %v\n%s\n---\n%s", err, out, again)
		}
	})
}
