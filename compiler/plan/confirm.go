package plan

import "time"

// ConfirmValidity is how long a confirmation link of s is valid:
// ConfirmWithin, or DefaultConfirmWithin when it is empty (or, in a plan the
// compiler would have refused, not a positive duration).
func (s Subscription) ConfirmValidity() time.Duration {
	if s.ConfirmWithin != "" {
		if d, err := ParseDuration(s.ConfirmWithin); err == nil && d > 0 {
			return d
		}
	}
	d, _ := ParseDuration(DefaultConfirmWithin)
	return d
}
