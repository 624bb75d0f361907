package suggest

import "testing"

func TestClosest(t *testing.T) {
	for _, tc := range []struct {
		given string
		cands []string
		want  string
	}{
		{"sned", []string{"send", "wait", "exit"}, "send"},              // a swap is one edit
		{"tempalte", []string{"template", "segment"}, "template"},       // so is this one
		{"segmnt", []string{"segment", "sender"}, "segment"},            // a deletion
		{"xyz", []string{"template", "segment"}, ""},                    // nothing close
		{"a", []string{"b", "c"}, "b"},                                  // ties: alphabetical
		{"reenrollment", []string{"reenroll", "re_enroll"}, "reenroll"}, // long: a third of the name
		{"send", []string{"send"}, ""},                                  // itself is no suggestion
		{"név", []string{"nev", "new"}, "nev"},                          // runes, not bytes
	} {
		if got := Closest(tc.given, tc.cands); got != tc.want {
			t.Errorf("Closest(%q, %v) = %q, want %q", tc.given, tc.cands, got, tc.want)
		}
	}
	if got := DidYouMean("sned", []string{"send"}); got != `; did you mean "send"?` {
		t.Errorf("DidYouMean: %q", got)
	}
	if got := DidYouMean("zzz", []string{"send"}); got != "" {
		t.Errorf("DidYouMean with nothing close: %q", got)
	}
}
