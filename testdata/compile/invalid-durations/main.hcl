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

workflow "d" {
  type   = "re_engagement"
  model  = "lead"
  sender = "s"
  trigger {
    event        = "inactivity"
    inactive_for = "3 months"
  }
  reenroll {
    allowed = true
    after   = "-30d"
  }
  step "back" {
    wait = "-1d"
  }
  step "huge" {
    wait = "999999999999w"
  }
  step "mail" {
    send = "t"
  }
}

sequence "q" {
  model   = "lead"
  segment = "all"
  sender  = "s"
  step "one" {
    offset   = "1x"
    template = "t"
  }
}
