package sqlgen

import (
	"regexp"
	"strings"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func (c *tctx) stringFunc(e celast.Expr, fn string, recvE, argE celast.Expr) (texpr, error) {
	recv, err := c.expr(recvE)
	if err != nil {
		return texpr{}, err
	}
	arg, err := c.expr(argE)
	if err != nil {
		return texpr{}, err
	}
	if recv.t.Kind() != types.StringKind || arg.t.Kind() != types.StringKind {
		return texpr{}, c.unsupported(e, "%s over %s has no SQL translation", fn, recv.t)
	}
	if fn == "matches" {
		return c.matches(e, recv, arg, argE)
	}
	if arg.con != nil {
		k := arg.con
		pattern := func(s string) string {
			switch fn {
			case "startsWith":
				return likeEscape(s) + "%"
			case "endsWith":
				return "%" + likeEscape(s)
			}
			return "%" + likeEscape(s) + "%"
		}
		recvV := c.operand(recv)
		col := recv.col
		return texpr{t: types.BoolType, pred: func(w *writer, neg bool) {
			v := w.value(k)
			s, ok := v.(types.String)
			if !ok {
				w.str("NULL")
				return
			}
			// "" starts with, ends with and contains only "".
			w.overOperand(col, recvV, neg, s == "", func(x vnode) {
				w.str("(")
				w.v(x)
				w.str(" LIKE ")
				w.param(k, "like:"+fn, pattern(string(s)), "text")
				w.str(")")
			})
		}}, nil
	}
	a, b := c.operand(recv), c.operand(arg)
	return texpr{t: types.BoolType, pred: leaf(func(w *writer) {
		switch fn {
		case "startsWith":
			w.str("starts_with(")
			w.v(a)
			w.str(", ")
			w.v(b)
			w.str(")")
		case "endsWith":
			w.str("(right(")
			w.v(a)
			w.str(", char_length(")
			w.v(b)
			w.str(")) = ")
			w.v(b)
			w.str(")")
		default:
			w.str("(strpos(")
			w.v(a)
			w.str(", ")
			w.v(b)
			w.str(") > 0)")
		}
	})}, nil
}

func (c *tctx) matches(e celast.Expr, recv, arg texpr, argE celast.Expr) (texpr, error) {
	if arg.con == nil || arg.con.val == nil {
		return texpr{}, c.unsupported(e, "matches with a pattern that is not a fixed string has no SQL translation")
	}
	pat := string(arg.con.val.(types.String))
	pg, err := TranslateRegexp(pat)
	if err != nil {
		return texpr{}, c.unsupported(argE, "%v", err)
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return texpr{}, c.unsupported(argE, "invalid pattern: %v", err)
	}
	k := arg.con
	zero := re.MatchString("")
	recvV := c.operand(recv)
	col := recv.col
	return texpr{t: types.BoolType, pred: func(w *writer, neg bool) {
		w.overOperand(col, recvV, neg, zero, func(x vnode) {
			w.str("(")
			w.v(x)
			w.str(" ~ ")
			w.param(k, "regex", pg, "text")
			w.str(")")
		})
	}}, nil
}

// asciiCase maps ASCII letters only, as CEL's lowerAscii and upperAscii do;
// Postgres' lower and upper would also fold other letters.
func (c *tctx) asciiCase(e celast.Expr, fn string, target celast.Expr) (texpr, error) {
	x, err := c.expr(target)
	if err != nil {
		return texpr{}, err
	}
	if x.t.Kind() != types.StringKind {
		return texpr{}, c.unsupported(e, "%s of %s has no SQL translation", fn, x.t)
	}
	v := c.operand(x)
	from, to := asciiUpper, asciiLower
	if fn == "upperAscii" {
		from, to = to, from
	}
	return texpr{t: types.StringType, mayErr: x.mayErr, val: func(w *writer) {
		w.str("translate(")
		w.v(v)
		w.str(", " + from + ", " + to + ")")
	}}, nil
}
