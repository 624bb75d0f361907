# Zoho-style autoresponder: a welcome the day a customer starts a trial, then
# follow-ups 3 and 10 days later. Whoever replies gets no further follow-up
# (Zoho cannot do that: we track replies), records marked "do not email" are
# never mailed, and one person with two records is mailed once.

segment "trial_signups" {
  model  = "customer"
  filter = "customer.plan == \"trial\" && has(customer.trial_started_at)"
}

autoresponder "trial_welcome" {
  model   = "customer"
  segment = "trial_signups"
  # The founder's personal address, with the sales team as reply-to (see
  # senders.hcl): trials convert better when the mail reads as one person's.
  sender = "founder"
  mode   = "single"
  start  = "2026-01-01"

  follow_up "welcome" {
    offset   = "0d"
    template = "trial_welcome"
  }
  follow_up "day_3" {
    offset   = "3d"
    template = "trial_day_3"
  }
  follow_up "day_10" {
    offset   = "10d"
    template = "trial_day_10"
  }

  max_follow_ups     = 3
  exclude_responders = true
  do_not_email       = "customer.do_not_email"
}

template "trial_welcome" {
  subject = "Welcome to Acme, {{ .customer.name | default \"and thanks for trying us\" }}"
  text    = <<-EOT
    Hi {{ .customer.name | default "there" }},

    I'm Dana, and I started Acme. Thanks for starting a trial! Over the next
    14 days you can try everything, with no card needed.

    If anything is unclear, just reply: this comes straight to me and our team.

    Dana

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "trial_day_3" {
  subject = "Three things our best customers set up first"
  text    = <<-EOT
    Hi {{ .customer.name | default "there" }},

    Three days in! The customers who get the most from Acme start with these:
    connect your shop, import last year's orders, and invite a colleague.

    Reply with any question.

    Dana

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "trial_day_10" {
  subject = "Your trial ends in 4 days"
  text    = <<-EOT
    Hi {{ .customer.name | default "there" }},

    Your trial ends in 4 days. To keep your data and settings, choose a plan
    from your account page. If Acme is not the right fit, I'd love to know why:
    just reply.

    Dana

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
