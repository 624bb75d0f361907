package check

import (
	"sort"
	"strings"
)

// cycles reports segments that reference themselves, directly or through other
// segments: such a filter has no meaning (and would never finish evaluating).
// Each cycle is reported once, at the reference that leaves its
// alphabetically first segment.
func (c *checker) cycles() {
	names := keys(c.segments)
	sort.Strings(names)
	const (
		white = iota // not visited
		grey         // on the current path
		black        // done
	)
	color := map[string]int{}
	var path []string
	seen := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		color[name] = grey
		path = append(path, name)
		for _, ref := range c.segRefs[c.segments[name]] {
			if _, ok := c.segments[ref.name]; !ok {
				continue
			}
			switch color[ref.name] {
			case white:
				visit(ref.name)
			case grey:
				i := len(path) - 1
				for path[i] != ref.name {
					i--
				}
				c.reportCycle(append([]string(nil), path[i:]...), seen)
			}
		}
		path = path[:len(path)-1]
		color[name] = black
	}
	for _, n := range names {
		if color[n] == white {
			visit(n)
		}
	}
}

// reportCycle reports the cycle cyc (each segment references the next, the last
// the first) unless it was reported already.
func (c *checker) reportCycle(cyc []string, seen map[string]bool) {
	// Rotate so the alphabetically first segment leads: the same cycle found from
	// another starting point then reads, and de-duplicates, the same.
	first := 0
	for i, n := range cyc {
		if n < cyc[first] {
			first = i
		}
	}
	cyc = append(cyc[first:], cyc[:first]...)
	key := strings.Join(cyc, "\x00")
	if seen[key] {
		return
	}
	seen[key] = true
	next := cyc[0]
	if len(cyc) > 1 {
		next = cyc[1]
	}
	from := c.segments[cyc[0]]
	for _, ref := range c.segRefs[from] {
		if ref.name != next {
			continue
		}
		if len(cyc) == 1 {
			c.errorf(ref.rng, "segment %q references itself", cyc[0]).Detail =
				"A filter cannot use its own segment; write the condition out instead."
		} else {
			c.errorf(ref.rng, "segments reference each other in a cycle: %s → %s", strings.Join(cyc, " → "), cyc[0]).Detail =
				"Segment filters may use other segments, but not in a loop; break the cycle by writing one of the conditions out."
		}
		return
	}
}
