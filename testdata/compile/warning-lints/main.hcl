model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name"  { type = "string" }
  field "stage" { type = "string" }
  field "score" { type = "int" }
  field "owner" { type = "string" }
  field "seen"  { type = "timestamp" }
}

segment "all" {
  model  = "lead"
  filter = "true"
}

sender "s" {
  from = "News <news@acme.example>"
}

template "t" {
  subject = "Hello"
  text    = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
}

template "no_link" {
  subject = "Hi"
  text    = "A way out: {{ .unsubscribe_url }}"
}

template "receipt" {
  class   = "transactional"
  subject = "Receipt"
  text    = "Thanks."
}

template "unused_no_link" {
  subject = "Hi"
  text    = "Nobody sends this."
}

workflow "quick" {
  type   = "blog_welcome"
  model  = "lead"
  sender = "s"
  trigger {
    event = "blog_subscription"
  }
  step "hello" {
    send = "no_link"
  }
  step "soon" {
    wait = "15m"
  }
  step "receipt" {
    send = "receipt"
  }
}

workflow "nudge" {
  type   = "re_engagement"
  model  = "lead"
  sender = "s"
  trigger {
    event        = "inactivity"
    inactive_for = "60d"
  }
  step "first" {
    send = "t"
  }
  step "soon" {
    wait = "12h"
  }
  step "second" {
    send = "t"
  }
}

campaign "transactional_ok" {
  segment  = "all"
  template = "receipt"
  sender   = "s"
  class    = "transactional"
}
