package plan

import (
	"fmt"
	"time"
)

// Event retention: how long the runner keeps contact events. It is a
// contract between the compiler, which refuses engagement predicates that look
// further back than the retention, and the daemon's leader, which drops the
// monthly partitions of the events table that lie entirely before
// now - retention. Both read it through EventRetention, so they cannot
// disagree on which policy wins or on what a value means.

// MinEventRetention is the shortest retention a policy may declare. Events
// are partitioned by month, so a shorter one would drop last month's
// partition while the daemon keeps it ahead of the clock.
const MinEventRetention = 31 * 24 * time.Hour

// ParseEventRetention reads a policy's event_retention: a duration in
// ParseDuration's syntax that is a whole number of days, at least
// MinEventRetention ("400d", "57w", "13w2d"). Days are not rounded to months:
// the leader drops a month's partition once all of it is older than
// now - retention, so an event is kept at least the retention and at most a
// month longer.
func ParseEventRetention(s string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	day := 24 * time.Hour
	switch {
	case d < 0:
		return 0, fmt.Errorf("event_retention %q cannot be negative", s)
	case d%day != 0:
		return 0, fmt.Errorf("event_retention %q is not a whole number of days", s)
	case d < MinEventRetention:
		return 0, fmt.Errorf("event_retention %q is shorter than %d days, the shortest retention (events are dropped by whole months)", s, MinEventRetention/day)
	}
	return d, nil
}

// EventRetention is the plan's event retention: the longest event_retention
// any policy declares (events are shared by every object and model, so the
// object that needs them longest decides), with the name of that policy. A
// zero retention means no policy declares one: events are kept forever. A
// value that does not parse is an error, never skipped: a plan edited by hand
// must not make the daemon drop more than some policy asks to keep.
func (p *Plan) EventRetention() (retention time.Duration, policy string, err error) {
	for _, pol := range p.Policies {
		if pol.EventRetention == "" {
			continue
		}
		d, err := ParseEventRetention(pol.EventRetention)
		if err != nil {
			return 0, "", fmt.Errorf("policy %q: %w", pol.Name, err)
		}
		if d > retention {
			retention, policy = d, pol.Name
		}
	}
	return retention, policy, nil
}

// EventRetentionCutoff is the instant before which events may be dropped
// under retention at now: now - retention.
func EventRetentionCutoff(now time.Time, retention time.Duration) time.Time {
	return now.Add(-retention)
}

// ObjectModel is an object that sends to contacts, with the model of its
// contacts: what ties an outbox row (kind, object, contact key) to the events
// of that contact (model, contact key).
type ObjectModel struct {
	Kind, Name, Model string
}

// ObjectModels lists the plan's campaigns (the model of their segment),
// sequences, workflows and autoresponders, in that order.
func (p *Plan) ObjectModels() []ObjectModel {
	var out []ObjectModel
	for _, c := range p.Campaigns {
		model := ""
		if s, ok := p.Segment(c.Segment); ok {
			model = s.Model
		}
		out = append(out, ObjectModel{"campaign", c.Name, model})
	}
	for _, s := range p.Sequences {
		out = append(out, ObjectModel{"sequence", s.Name, s.Model})
	}
	for _, w := range p.Workflows {
		out = append(out, ObjectModel{"workflow", w.Name, w.Model})
	}
	for _, a := range p.Autoresponders {
		out = append(out, ObjectModel{"autoresponder", a.Name, a.Model})
	}
	return out
}
