package engine

import (
	"strings"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Open and click tracking at compose time. The tokens identify the message
// (object, step, variant, model, contact, occurrence, outbox row) and when it
// was composed, so the daemon's /o/ and /c/ handlers write events of the shape
// the engine's branches read (enrollment-engagement in store/queries.sql)
// without a database lookup, and can tell a prefetch seconds after delivery
// from a reader.

// tracks says whether r's message is tracked: marketing mail only
// (transactional and internal mail are not measured), when links can be
// signed and served, unless turned off.
func (e *Engine) tracks(r store.Claimed) bool {
	return !e.NoTracking && e.Links != nil && e.PublicURL != "" &&
		(r.Class == "" || r.Class == plan.ClassMarketing)
}

// trackHTML rewrites the links of body through /c/ and adds the /o/ pixel.
// Links to the daemon's own /u/, /c/ and /o/ are left alone: the unsubscribe
// link must work without a redirect (and must not record a click).
func (e *Engine) trackHTML(body string, tg target, r store.Claimed) (string, error) {
	base := strings.TrimRight(e.PublicURL, "/")
	c := links.Claims{
		Kind: tg.kind, Campaign: tg.name, Step: r.Step, Variant: r.Variant,
		ContactKey: r.ContactKey, Occurrence: r.Occurrence, OutboxID: r.ID,
		IssuedAt: e.Clock.Now().Unix(),
	}
	if tg.model != nil {
		c.Model = tg.model.Name
	}
	click := func(dest string) string {
		for _, p := range [...]string{"/u/", "/c/", "/o/"} {
			if strings.HasPrefix(dest, base+p) {
				return ""
			}
		}
		cc := c
		cc.Purpose, cc.URL = links.PurposeClick, dest
		return base + "/c/" + e.Links.Sign(cc)
	}
	open := c
	open.Purpose = links.PurposeOpen
	out, _, err := mailer.TrackHTML(body, mailer.Tracking{Click: click, Pixel: base + "/o/" + e.Links.Sign(open)})
	return out, err
}
