// Package statuspage serves the daemon's read-only status page under /ui/: the
// applied objects with their sync and health, each object's funnel (Odoo's
// smart buttons per step and variant) and A/B verdicts, a workflow's or
// sequence's graph with per-step counts, and a contact lookup that shows
// explain and the timeline.
//
// It is plain server-rendered HTML (html/template, templates and stylesheet
// embedded): no build step and no JavaScript. Every response carries a
// Content-Security-Policy without script-src, so the page could not run a
// script even if one were injected; html/template escapes every value.
//
// Access needs the token the daemon was given (CAMPAIGNCTL_UI_TOKEN, or the
// events token): either as "Authorization: Bearer <token>", for scripts, or
// through the login form, which sets an HttpOnly, SameSite=Strict cookie that
// holds an expiry and an HMAC-SHA256 of it keyed by the token, never the
// token itself. Comparisons are constant time. Changing the token logs every
// browser out. The contact lookup is a POST, so an address never lands in a
// URL, a browser history or a proxy log.
//
// The package reads nothing itself: a Source (cmd/campaignctl's, over the
// same code as `campaignctl status`, `report`, `explain` and `timeline`)
// returns the views, so the page and the CLI cannot disagree. It does not
// decide health, compute a rate or lay out anything beyond a simple top-down
// chart of the graph it is given.
package statuspage
