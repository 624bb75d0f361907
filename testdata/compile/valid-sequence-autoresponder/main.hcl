# A nurture sequence with engagement gates and an A/B test, and the two
# autoresponder modes.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "stage" { type = "string" }
  field "do_not_email" { type = "bool" }
}

segment "waitlist" {
  model  = "lead"
  filter = "lead.stage == \"Lost\""
}

sender "news" {
  from = "News <news@acme.example>"
}

template "week1" {
  subject = "Back in stock"
  text    = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
}

template "week2" {
  subject = "Running low"
  text    = "Hi. {{ .unsubscribe_url }}"
}

template "digest" {
  subject = "This week"
  text    = "News. {{ .unsubscribe_url }}"
}

sequence "restock" {
  model   = "lead"
  segment = "waitlist"
  sender  = "news"
  goal    = "lead.stage == \"Won\" || segment.waitlist == false"
  step "week1" {
    offset   = "0d"
    template = "week1"
    ab_test {
      test_percent = 10
      metric       = "open_rate"
      decide_after = "6h"
      inconclusive = "stop"
      variant "a" { subject = "Back in stock!" }
      variant "b" { subject = "{{ .lead.name }}, it's back" }
    }
  }
  step "week2" {
    offset   = "1w"
    template = "week2"
    when {
      step   = "week1"
      event  = "opened"
      within = "5d"
    }
  }
}

autoresponder "followups" {
  model   = "lead"
  segment = "waitlist"
  sender  = "news"
  mode    = "single"
  start   = "2026-01-01"
  end     = "2026-06-30T23:59:59Z"
  follow_up "now" {
    offset   = "0d"
    template = "week1"
  }
  follow_up "later" {
    offset   = "10d"
    template = "week2"
  }
  do_not_email = "lead.do_not_email"
}

autoresponder "weekly" {
  model              = "lead"
  segment            = "waitlist"
  sender             = "news"
  mode               = "multiple"
  template           = "digest"
  exclude_responders = false
  max_follow_ups     = 6
  recurrence {
    unit     = "week"
    every    = 2
    weekdays = ["mon", "thu"]
  }
}

autoresponder "monthly" {
  model    = "lead"
  segment  = "waitlist"
  sender   = "news"
  mode     = "multiple"
  template = "digest"
  recurrence {
    unit         = "month"
    every        = 2
    day_of_month = 15
  }
}
