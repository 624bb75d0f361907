package main

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// checked reports whether the checkbox with id is ticked in doc, the live
// DOM as the browser renders the page the server sent.
func checked(t *testing.T, doc *html.Node, id string) bool {
	t.Helper()
	els := find(doc, "input", "id", id)
	if len(els) != 1 {
		t.Fatalf("%d inputs with id %s on the page, want 1", len(els), id)
	}
	for _, a := range els[0].Attr {
		if a.Key == "checked" {
			return true
		}
	}
	return false
}

// The preference center in a real browser (the headless Chromium of the
// status page test, scripts off): opened from the List-Unsubscribe link of a
// captured mail, one type unticked with a mouse click and the form saved with
// another; the page then shows the choice and the ledger holds the
// withdrawal, from the preference center.
func TestPreferenceCenterChromium(t *testing.T) {
	ownProcess(t)
	t.Parallel()
	skipInShortMode(t)
	chromium := findChromium(t)
	d := startLiveDaemon(t, prefCRM, prefCampaigns)
	d.waitFor(t, "news1 to ann", func() bool { return strings.Contains(d.recipients()["news1"], "ann@example.com") })
	link := d.unsubLink(t, "news1", "ann@example.com")

	ctx := browser(t, chromium)
	navigate(t, ctx, link)
	noScript(t, ctx)
	waitFor(t, ctx, "#sub-news")
	ps := readPage(t, ctx)
	if !checked(t, ps.doc, "sub-news") || !checked(t, ps.doc, "sub-offers") {
		t.Fatalf("before any choice, news and offers should be ticked:\n%s", textOf(ps.doc))
	}
	if text := textOf(ps.doc); !strings.Contains(text, "a***@example.com") || strings.Contains(text, "ann@example.com") {
		t.Errorf("the page shows the address unmasked, or not at all:\n%s", text)
	}
	screenshot(t, ctx, "preferences-before.png")
	click(t, ctx, "#sub-news")
	click(t, ctx, "#save")
	waitFor(t, ctx, "#notice")
	ps = readPage(t, ctx)
	if !strings.Contains(textOf(ps.doc), "Your choices are saved.") {
		t.Errorf("after saving, the page does not say so:\n%s", textOf(ps.doc))
	}
	if checked(t, ps.doc, "sub-news") || !checked(t, ps.doc, "sub-offers") {
		t.Errorf("after unticking news, the page shows news ticked or offers unticked")
	}
	screenshot(t, ctx, "preferences-saved.png")
	if got := d.ledger(t, "ann@example.com"); len(got) != 1 || got[0] != (ledgerRow{"news", "withdraw", "preference_center"}) {
		t.Fatalf("ann's ledger after the browser's save: %+v, want one withdrawal of news from the preference center", got)
	}
	if got := d.ledger(t, "bob@example.com"); len(got) != 0 {
		t.Errorf("bob's ledger changed: %+v", got)
	}
}
