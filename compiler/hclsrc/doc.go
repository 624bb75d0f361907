// Package hclsrc is the HCL front end of the compiler: it reads every *.hcl file
// of a campaigns tree and produces the IR (package ir), with a source range for
// each object and attribute.
//
// It checks only what HCL itself knows: syntax, block and attribute names (an
// unknown one is an error with a "did you mean" suggestion), label counts, that
// a block that may appear once does, that each attribute has the right kind of
// value (string, number, whole number, bool, list of strings), and that a
// workflow step has exactly one attribute that gives it its kind. Everything
// about meaning — required attributes, allowed values, names, references, CEL,
// templates, durations, times, addresses — is the checker's job (package check,
// with the CUE schemas), so every front end gets the same messages.
//
// # The language
//
// A campaigns tree is a directory of *.hcl files, read recursively in sorted path
// order; directories and files whose names start with "." are skipped. Objects are
// blocks with one label, their name. Each kind has its own namespace.
//
//	model "lead" {
//	  table          = "crm_lead"        # table or view; "schema.table" allowed
//	  key            = "id"              # primary key column
//	  email          = "email_from"      # column holding the email address
//	  default_filter = "lead.active"     # optional CEL; segments imply it unless include_archived
//	  time_zone      = "time_zone"       # optional: the string field with the contact's IANA zone
//	  field "name"        { type = "string" }
//	  field "stage"       { type = "string" }
//	  field "lost_reason" {
//	    type     = "string"
//	    column   = "lost_reason"   # optional, defaults to the field name
//	    nullable = true            # optional, default false
//	  }
//	  field "active"      { type = "bool" }
//	  field "blacklisted" { type = "bool" }
//	  field "created_at"  { type = "timestamp" }
//	  field "tags"        { type = "list(string)" }
//	  field "time_zone"   { type = "string" }
//	}
//
//	segment "lost_not_enough_stock" {
//	  model            = "lead"
//	  include_archived = true          # optional, default false
//	  filter = <<-CEL
//	    !lead.blacklisted
//	    && lead.created_at >= timestamp("2024-01-01T00:00:01Z")   # RFC 3339, with its offset
//	    && lead.created_at < timestamp("2025-01-01", "Europe/Brussels")  # or wall-clock time in a zone
//	    && !(lead.stage in ["New", "Qualified", "Won"])
//	    && lead.lost_reason == "Not enough stock"
//	  CEL
//	}
//
//	# timestamp() and duration() with literal arguments are evaluated by the
//	# compiler: a date it cannot read ("01/02/2024") or a zone that does not
//	# exist ("Europe/Bruxelles") is an error at its file, line and column.
//	# timestamp(TIME, ZONE) reads "2006-01-02T15:04:05", "2006-01-02 15:04:05",
//	# "2006-01-02T15:04" or "2006-01-02" in an IANA zone; a time that a
//	# daylight-saving change skips or repeats takes the later offset for a gap,
//	# the earlier for a repeat.
//
//	segment "makeup_browsers" {        # engagement predicates read the runner's events
//	  model  = "lead"
//	  filter = <<-CEL
//	    lead.event_count("page_view", "makeup", days(14)) >= 3   # also event_count(type, d)
//	    && !lead.clicked(days(30))     # clicked(d), opened(d), clicked("campaign", "step")
//	    || lead.inactive_for(days(90)) # no page view, click or form submission
//	  CEL
//	}
//
//	sender "warehouse" {
//	  from     = "Acme Warehouse <news@acme.example>"
//	  reply_to = "sales@acme.example"   # optional
//	}
//
//	template "back_in_stock" {
//	  subject = "Limited items are back in stock, {{ .lead.name | default \"friend\" }}!"
//	  html    = file("templates/back_in_stock.html")   # path relative to this .hcl file
//	  text    = <<-EOT
//	    Hello {{ .lead.name | default "there" }} ...
//	    Unsubscribe: {{ .unsubscribe_url }}
//	  EOT
//	}
//
//	campaign "lost_leads_reactivation" {
//	  segment  = "lost_not_enough_stock"
//	  template = "back_in_stock"
//	  sender   = "warehouse"
//	  send_at  = "2026-12-01T09:00:00Z"   # optional; absent = when applied
//	  class    = "marketing"              # optional: marketing (default), transactional, internal
//	  policy   = "default"                # optional; absent = the policy named "default", if any
//	  paused   = false                    # optional, default false; true holds it (every kind has it)
//	  ab_test {                           # optional
//	    test_percent = 20                 # share of the audience that gets a variant (1 to 99)
//	    metric       = "open_rate"        # open_rate, click_rate, reply_rate, conversions, revenue
//	    decide_after = "4h"               # optional, default 24h
//	    inconclusive = "send_first"       # optional: send_first (default), send_all, stop
//	    variant "a" { subject = "Back in stock!" }
//	    variant "b" { template = "back_in_stock_short" }   # subject, template or both
//	  }
//	}
//
// A template may say what kind of mail it is; only marketing templates need an
// unsubscribe link:
//
//	template "order_confirmation" {
//	  class   = "transactional"   # marketing (default), transactional or internal
//	  subject = "Your order {{ .customer.name }}"
//	  text    = "..."
//	}
//
// A policy holds sending rules. The one named "default" applies to every
// campaign, workflow, sequence and autoresponder that names no policy:
//
//	policy "default" {
//	  daily_quota     = 5000                    # per sender per day
//	  rate_per_minute = 300
//	  quiet_hours   { start = "21:00"  end = "08:00" }   # contact's time zone
//	  frequency_cap { max = 3  per = "7d" }              # marketing mail per contact
//	  suppress = ["unsubscribed", "blacklisted", "hard_bounce", "complaint"]
//	  bypass {                                           # what each class may skip
//	    transactional = ["quiet_hours", "frequency_cap", "unsubscribed"]
//	    internal      = ["quiet_hours", "frequency_cap"]
//	  }
//	  require_org_reply_to = true               # Zoho's rule, see below
//	  org_domains          = ["acme.example"]
//	  audience_growth_warn_percent = 50         # plan diffs warn above this growth
//	  consent = "opt_in"                        # opt_in or opt_out; absent = opt_out
//	}
//
// Consent. Under a policy with consent = "opt_in", marketing mail goes only to
// contacts whose consent holds, as the recipients' model declares it: a CEL
// condition over the contact, for all marketing mail, and optionally per
// subscription type, which a template names. Transactional and internal mail
// need no consent. The compiler refuses marketing mail under an opt_in policy
// whose model has no rule for it; a policy without consent is opt_out (what
// plans did before the attribute existed), so write consent = "opt_in" in new
// policies:
//
//	model "lead" {
//	  ...
//	  consent = "lead.marketing_opt_in"               # optional: CEL, true = agreed
//	  subscription "newsletter" { consent = "lead.newsletter_opt_in" }
//	  subscription "offers" {}                        # the model's consent applies
//	}
//	template "weekly_news" {
//	  subscription = "newsletter"                     # optional: declared on the model
//	  ...
//	}
//
// With require_org_reply_to, a sender whose from is personal (its domain is not
// one of org_domains) must have a reply_to in the organisation's domains, so
// replies reach the organisation; a personal reply_to is fine behind an
// organisation from. The rule applies to the senders of every object under the
// policy.
//
// A workflow is a trigger and steps, run for each contact the trigger enrolls.
// Its type is one of the 15 of the design (topic, blog_welcome,
// customer_onboarding, engaged_contacts, lead_nurturing, sales_rep_notification,
// re_engagement, event, abandoned_cart, upsell, customer_satisfaction,
// customer_success, purchase_reminder, customer_service, transactional); the
// schemas say which triggers, fields and classes each type allows.
//
//	workflow "cart_rescue" {
//	  type   = "abandoned_cart"
//	  model  = "customer"
//	  class  = "marketing"       # optional; each type has a default
//	  sender = "shop"            # needed as soon as a step sends mail
//	  policy = "default"         # optional
//	  paused = false             # optional: true holds enrollments, steps and events
//	  trigger {
//	    event  = "cart_abandoned"
//	    filter = "event.value >= 20.0"   # optional CEL over the contact and the event
//	    property "value" { type = "float" }   # optional: types event.value
//	    # also, as the type needs them: segment, topic, threshold (a number),
//	    # window, inactive_for (durations), field ("customer.next_purchase_at")
//	  }
//	  goal = "has(customer.last_order_at) && customer.last_order_at > event.at"
//	  reenroll { allowed = true  after = "30d" }   # optional
//
//	  step "pause"    { wait = "1h" }
//	  step "reminder" { send = "cart_reminder" }
//	  step "clicked"  {
//	    engagement { step = "reminder"  event = "clicked"  within = "1d" }
//	    then = "thanks"
//	    else = "discount"          # optional: default, the following step
//	  }
//	  step "discount" { send = "cart_discount"  next = "done" }
//	  step "thanks"   { if = "customer.value_tier == \"gold\""  then = "vip" }
//	  step "vip"      { set_property = "customer.lifecycle_stage"  value = "vip" }
//	  step "done"     { exit = true }
//	}
//
// A step does one thing, named by exactly one of these attributes (a second one
// is an error):
//
//	wait = "1d"                        wait; with relative_to = "event.date" (or a
//	                                   timestamp field) it waits until that time
//	                                   plus the duration, which may then be
//	                                   negative: wait = "-1d" is the day before
//	send = "template"                  send an email to the contact; may hold an
//	                                   ab_test block like a campaign's
//	if = "CEL"                         branch on a condition: then = "step",
//	                                   else = "step" (else defaults to the next)
//	engagement { step, event, within } branch on what the contact did with an
//	                                   earlier send step: opened, clicked,
//	                                   replied, ignored or bounced
//	set_property = "customer.stage"    set a contact property to value = "x"
//	                                   (a string, or a number or bool literal)
//	clear_property = "customer.owner"  set a nullable property to NULL
//	notify_owner = "template"          internal mail to the contact's owner
//	assign_owner = ["a@acme.example", "b@acme.example"]
//	                                   round robin; field = "customer.owner" says
//	                                   which property holds the owner
//	exit = true                        leave the workflow
//
// Steps run in order. next = "step" on any step jumps instead of falling
// through; a branch goes to then or else; the last step and exit steps end the
// workflow. Loops are errors, steps no jump reaches are warnings.
//
// Contact fields are written as in CEL, model.field ("customer.owner"), in
// set_property, clear_property, field, relative_to, trigger field and
// do_not_email. CEL conditions of workflows (trigger filter, goal, if) may also
// read event, the event that enrolled the contact; sequence goals and segment
// filters cannot. A trigger types its event's JSON properties with property
// blocks (see docs/language.md); then event.value >= "thirty" or event.vlue is
// a compile error, and the events API refuses an event whose property has
// another JSON type. Without them event is an untyped map.
//
// A sequence sends on offsets from enrollment (joining the segment), each step
// optionally only to contacts who did something with an earlier step, until the
// goal holds:
//
//	sequence "restock" {
//	  model   = "lead"
//	  segment = "restock_waitlist"
//	  sender  = "warehouse"
//	  policy  = "default"               # optional
//	  paused  = false                   # optional: true holds every enrollment where it is
//	  goal    = "lead.stage == \"Won\""   # converted contacts get no further step
//	  step "week1" {
//	    offset   = "0d"
//	    template = "restock_week1"
//	    ab_test { ... }                 # as in a campaign
//	  }
//	  step "week2_ignored" {
//	    offset   = "7d"
//	    template = "restock_low_stock"
//	    when { step = "week1"  event = "ignored" }   # an earlier step; also within
//	  }
//	}
//
// A when condition is decided when its step is due: opened (an open or a
// click), clicked, replied, bounced, or ignored: sent, and no open, click,
// reply or bounce since (a bounced message was not received, so it is not
// ignored). The contact's reaction counts from when the earlier message went
// out until the step is due (here the 7 days between the offsets), or for
// within = "3d" after it went out if that is shorter. A step whose earlier
// step was never sent to the contact is skipped, saying so.
//
// An autoresponder is Zoho CRM's: single mode sends its follow-ups, each on
// its offset from when the contact joined the segment, or from start for a
// contact who joined before it (started 2026-01-01: "3d" is January 4), none
// after end; multiple mode sends one template on a recurrence.
// max_follow_ups (default 10) is, in single mode, the most follow-ups the
// autoresponder may declare (more is an error), and in multiple mode the most
// issues one contact gets from a recurrence without an end (with an end, the
// recurrence runs to it).
//
//	autoresponder "trial" {
//	  model   = "customer"
//	  segment = "trial_signups"
//	  sender  = "founder"
//	  mode    = "single"                 # or "multiple"
//	  start   = "2026-01-01"             # optional: a date or an RFC 3339 time
//	  end     = "2026-12-31"             # optional
//	  follow_up "welcome" { offset = "0d"   template = "trial_welcome" }
//	  follow_up "day_3"   { offset = "3d"   template = "trial_tips" }
//	  max_follow_ups     = 10            # optional, default 10 (see above)
//	  exclude_responders = true          # optional, default true
//	  do_not_email       = "customer.do_not_email"   # a bool field
//	  paused             = false         # optional, default false
//	}
//
//	autoresponder "digest" {
//	  ...
//	  mode       = "multiple"
//	  template   = "weekly_digest"
//	  recurrence { unit = "week"  every = 1  weekdays = ["mon", "thu"] }
//	  # or { unit = "day", every = 3 } or { unit = "month", every = 2, day_of_month = 15 }
//	}
//
// Durations are a number and a unit, or several: "90m", "36h", "3d", "2w",
// "1h30m" (units ms, s, m, h, d = 24h, w = 7d). Only a wait with relative_to may
// be negative.
//
// Field types are string, int, float, bool, timestamp and list(string).
//
// Values are literals: quoted strings, heredocs (<<EOT, or <<-EOT which strips the
// common indentation), numbers, true/false and lists of strings. There are no
// variables. The one function is file("path"), allowed in filter,
// default_filter, goal, if, subject, html and text: it reads
// a file of the campaigns tree, relative to the .hcl file that calls it, and may
// not reach outside the tree. HCL's own template sequences stay active inside
// strings, so a literal "${" or "%{" is written "$${" or "%%{"; Go template
// actions ({{ ... }}) need no escaping.
//
// Positions inside strings are exact: the value of a quoted string or heredoc is
// mapped byte by byte back to the file (escape sequences and the indentation that
// <<- strips included), so a CEL or template error points at its own column.
package hclsrc
