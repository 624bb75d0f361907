package sqlgen

import (
	"fmt"
	"regexp/syntax"
	"strconv"
	"strings"
)

// maxClassRanges bounds the size of a translated character class; Unicode classes
// such as \pL expand to hundreds of ranges that Postgres compiles slowly.
const maxClassRanges = 64

// pgMaxRepeat is Postgres' limit on bounded repetition counts (RE_DUP_MAX).
const pgMaxRepeat = 255

// TranslateRegexp rewrites an RE2 pattern (CEL's matches) as a Postgres advanced
// regular expression that accepts exactly the same strings, or says why it cannot.
//
// Rather than hoping the two dialects read a pattern alike, it parses the pattern
// with Go's RE2 parser and writes the parsed tree back using only constructs whose
// meaning Postgres shares: code points written as \u/\U escapes, explicit
// code-point ranges, \A and \Z, non-capturing groups and the usual quantifiers.
// Matching is a yes/no question, so greedy and lazy quantifiers are equivalent.
// Case folding, word boundaries and multi-line anchors are refused: their Unicode
// rules differ between the engines.
func TranslateRegexp(pattern string) (string, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("invalid pattern: %v", err)
	}
	var b strings.Builder
	if err := writeRegexp(&b, re); err != nil {
		return "", fmt.Errorf("pattern %q has no exact Postgres equivalent: %v", pattern, err)
	}
	return b.String(), nil
}

func writeRegexp(b *strings.Builder, re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpNoMatch:
		return fmt.Errorf("it can never match")
	case syntax.OpEmptyMatch:
		b.WriteString("(?:)")
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return fmt.Errorf("case-insensitive matching folds case differently")
		}
		for _, r := range re.Rune {
			if err := writeRune(b, r); err != nil {
				return err
			}
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return fmt.Errorf("an empty character class can never match")
		}
		if len(re.Rune)/2 > maxClassRanges {
			return fmt.Errorf("character class with more than %d ranges", maxClassRanges)
		}
		b.WriteString("[")
		wrote := false
		for i := 0; i < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo == 0 {
				lo = 1 // text never holds NUL, and Postgres refuses \u0000
			}
			if lo > hi {
				continue
			}
			if err := writeRune(b, lo); err != nil {
				return err
			}
			if hi != lo {
				b.WriteString("-")
				if err := writeRune(b, hi); err != nil {
					return err
				}
			}
			wrote = true
		}
		if !wrote {
			return fmt.Errorf("a class of only NUL can never match")
		}
		b.WriteString("]")
	case syntax.OpAnyCharNotNL:
		b.WriteString(`[^\u000a]`)
	case syntax.OpAnyChar:
		// Outside newline-sensitive mode, which is the default, "." matches "\n" too.
		b.WriteString(".")
	case syntax.OpBeginText:
		b.WriteString(`\A`)
	case syntax.OpEndText:
		b.WriteString(`\Z`)
	case syntax.OpBeginLine, syntax.OpEndLine:
		return fmt.Errorf("multi-line anchors")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return fmt.Errorf("word boundaries use different word characters")
	case syntax.OpCapture:
		b.WriteString("(?:")
		if err := writeRegexp(b, re.Sub[0]); err != nil {
			return err
		}
		b.WriteString(")")
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		b.WriteString("(?:")
		if err := writeRegexp(b, re.Sub[0]); err != nil {
			return err
		}
		b.WriteString(")")
		b.WriteString(map[syntax.Op]string{syntax.OpStar: "*", syntax.OpPlus: "+", syntax.OpQuest: "?"}[re.Op])
	case syntax.OpRepeat:
		if re.Min > pgMaxRepeat || re.Max > pgMaxRepeat {
			return fmt.Errorf("repetition count above %d", pgMaxRepeat)
		}
		b.WriteString("(?:")
		if err := writeRegexp(b, re.Sub[0]); err != nil {
			return err
		}
		b.WriteString("){" + strconv.Itoa(re.Min))
		switch {
		case re.Max < 0:
			b.WriteString(",")
		case re.Max != re.Min:
			b.WriteString("," + strconv.Itoa(re.Max))
		}
		b.WriteString("}")
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if err := writeRegexp(b, s); err != nil {
				return err
			}
		}
	case syntax.OpAlternate:
		b.WriteString("(?:")
		for i, s := range re.Sub {
			if i > 0 {
				b.WriteString("|")
			}
			if err := writeRegexp(b, s); err != nil {
				return err
			}
		}
		b.WriteString(")")
	default:
		return fmt.Errorf("operator %v", re.Op)
	}
	return nil
}

func writeRune(b *strings.Builder, r rune) error {
	switch {
	case r == 0:
		return fmt.Errorf("NUL character")
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		b.WriteRune(r)
	case r <= 0xFFFF:
		fmt.Fprintf(b, `\u%04x`, r)
	default:
		fmt.Fprintf(b, `\U%08x`, r)
	}
	return nil
}
