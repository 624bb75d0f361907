package diff

import (
	"fmt"
	"strings"
)

// Line operation kinds.
const (
	LineSame   = ' '
	LineAdd    = '+'
	LineRemove = '-'
	// LineSkip stands for a run of unchanged lines left out; Text says how many.
	LineSkip = '@'
	// LineNote is a remark about the text as a whole, such as a final newline
	// that appeared or went.
	LineNote = '\\'
)

// LineOp is one line of a line diff.
type LineOp struct {
	Kind byte
	Text string
}

// maxEditDistance bounds the line diff's work: beyond it the two texts have
// little in common and are shown as all old lines removed, all new lines added,
// which is also what a reader would make of them.
const maxEditDistance = 2000

// Lines diffs two texts line by line (Myers' O(ND) algorithm, after trimming the
// common prefix and suffix, so the usual small edit to a long template is cheap).
// A final newline does not make a line of its own; when only one side has it, a
// LineNote says so.
func Lines(oldText, newText string) []LineOp {
	a, b := splitLines(oldText), splitLines(newText)
	ops := lineDiff(a, b)
	if strings.HasSuffix(oldText, "\n") != strings.HasSuffix(newText, "\n") && oldText != "" && newText != "" {
		note := "no newline at end of the new text"
		if strings.HasSuffix(newText, "\n") {
			note = "newline added at end of text"
		}
		ops = append(ops, LineOp{Kind: LineNote, Text: note})
	}
	return ops
}

// Context returns ops with runs of unchanged lines longer than 2×n shortened
// to n lines either side of a change, the rest replaced by one LineSkip.
func Context(ops []LineOp, n int) []LineOp {
	var out []LineOp
	i := 0
	for i < len(ops) {
		if ops[i].Kind != LineSame {
			out = append(out, ops[i])
			i++
			continue
		}
		j := i
		for j < len(ops) && ops[j].Kind == LineSame {
			j++
		}
		run := ops[i:j]
		keepBefore, keepAfter := n, n
		if i == 0 {
			keepBefore = 0 // nothing changed before this run
		}
		if j == len(ops) {
			keepAfter = 0
		}
		if len(run) <= keepBefore+keepAfter+1 {
			out = append(out, run...)
		} else {
			out = append(out, run[:keepBefore]...)
			skipped := len(run) - keepBefore - keepAfter
			out = append(out, LineOp{Kind: LineSkip, Text: fmt.Sprintf("%d unchanged %s", skipped, pluralWord(skipped, "line"))})
			out = append(out, run[len(run)-keepAfter:]...)
		}
		i = j
	}
	return out
}

// IsMultiline reports whether a value is a string the views should diff line by
// line rather than print whole.
func IsMultiline(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(strings.TrimSuffix(s, "\n"), "\n")
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func lineDiff(a, b []string) []LineOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	out := make([]LineOp, 0, len(a)+len(b)-pre-suf)
	for _, l := range a[:pre] {
		out = append(out, LineOp{LineSame, l})
	}
	out = append(out, myers(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		out = append(out, LineOp{LineSame, l})
	}
	return out
}

// myers returns a shortest edit script from a to b. trace[d] keeps the furthest
// x reached on each diagonal k in [-d, d] before round d, which is all the
// backtrack reads, so memory is O(D²) rather than O(D·(N+M)).
func myers(a, b []string) []LineOp {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return allReplaced(a, b)
	}
	limit := min(n+m, maxEditDistance)
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int
	for d := 0; d <= limit; d++ {
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: insert b[y]
			} else {
				x = v[off+k-1] + 1 // right: delete a[x]
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(a, b, trace, d)
			}
		}
	}
	return allReplaced(a, b)
}

func backtrack(a, b []string, trace [][]int, dEnd int) []LineOp {
	x, y := len(a), len(b)
	var rev []LineOp
	for d := dEnd; d > 0; d-- {
		at := func(k int) int { return trace[d][k+d] }
		k := x - y
		var prevK int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := at(prevK)
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			x--
			y--
			rev = append(rev, LineOp{LineSame, a[x]})
		}
		if x == prevX {
			y--
			rev = append(rev, LineOp{LineAdd, b[y]})
		} else {
			x--
			rev = append(rev, LineOp{LineRemove, a[x]})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, LineOp{LineSame, a[x]})
	}
	out := make([]LineOp, len(rev))
	for i, op := range rev {
		out[len(rev)-1-i] = op
	}
	return out
}

func allReplaced(a, b []string) []LineOp {
	out := make([]LineOp, 0, len(a)+len(b))
	for _, l := range a {
		out = append(out, LineOp{LineRemove, l})
	}
	for _, l := range b {
		out = append(out, LineOp{LineAdd, l})
	}
	return out
}

// pluralWord is word, with an s unless there is one.
func pluralWord[N int | int64](n N, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
