package diff

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestLinesRandom checks the line diff on random texts against two facts: the
// ops rebuild both texts, and they are a shortest edit script (as many edits as
// the lengths minus twice the longest common subsequence, computed here the
// slow, obvious way).
func TestLinesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "d", ""}
	for i := range 2000 {
		a := randomLines(rng, alphabet)
		b := randomLines(rng, alphabet)
		ops := lineDiff(a, b)
		var gotA, gotB []string
		edits := 0
		for _, op := range ops {
			switch op.Kind {
			case LineSame:
				gotA, gotB = append(gotA, op.Text), append(gotB, op.Text)
			case LineRemove:
				gotA = append(gotA, op.Text)
				edits++
			case LineAdd:
				gotB = append(gotB, op.Text)
				edits++
			}
		}
		if strings.Join(gotA, "\n") != strings.Join(a, "\n") || len(gotA) != len(a) {
			t.Fatalf("case %d: ops do not rebuild the old text %q: %v", i, a, ops)
		}
		if strings.Join(gotB, "\n") != strings.Join(b, "\n") || len(gotB) != len(b) {
			t.Fatalf("case %d: ops do not rebuild the new text %q: %v", i, b, ops)
		}
		if want := len(a) + len(b) - 2*lcs(a, b); edits != want {
			t.Fatalf("case %d: %d edits, shortest is %d\na=%q\nb=%q", i, edits, want, a, b)
		}
	}
}

func randomLines(rng *rand.Rand, alphabet []string) []string {
	n := rng.IntN(12)
	out := make([]string, n)
	for i := range out {
		out[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return out
}

func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

func TestLinesFinalNewline(t *testing.T) {
	ops := Lines("a\nb\n", "a\nb")
	if len(ops) != 3 || ops[2].Kind != LineNote {
		t.Fatalf("a lost final newline must be noted: %v", ops)
	}
	for _, op := range ops[:2] {
		if op.Kind != LineSame {
			t.Errorf("lines are unchanged, got %v", ops)
		}
	}
	if ops := Lines("x\n", "x\n"); len(ops) != 1 || ops[0] != (LineOp{LineSame, "x"}) {
		t.Errorf("a shared final newline is not a line: %v", ops)
	}
}

func TestLinesBeyondEditLimit(t *testing.T) {
	// Two long texts with nothing in common: past maxEditDistance the diff
	// gives up searching and replaces everything, which is also the answer.
	var a, b []string
	for i := range maxEditDistance + 10 {
		a = append(a, "old "+itoa(i))
		b = append(b, "new "+itoa(i))
	}
	ops := lineDiff(a, b)
	if len(ops) != len(a)+len(b) {
		t.Fatalf("%d ops, want %d", len(ops), len(a)+len(b))
	}
	if ops[0].Kind != LineRemove || ops[len(ops)-1].Kind != LineAdd {
		t.Errorf("want removals then additions")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestContext(t *testing.T) {
	var ops []LineOp
	for i := range 20 {
		ops = append(ops, LineOp{LineSame, itoa(i)})
	}
	ops[10] = LineOp{LineAdd, "new"}
	got := Context(ops, 3)
	// 10 unchanged before the change: 7 skipped, 3 kept; 9 after: 3 kept, 6 skipped.
	want := []byte{LineSkip, LineSame, LineSame, LineSame, LineAdd, LineSame, LineSame, LineSame, LineSkip}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].Kind != want[i] {
			t.Fatalf("op %d: %q, want %q (all %v)", i, got[i].Kind, want[i], got)
		}
	}
	if got[0].Text != "7 unchanged lines" || got[8].Text != "6 unchanged lines" {
		t.Errorf("skip texts: %q, %q", got[0].Text, got[8].Text)
	}
}
