model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "stage" { type = "string" }
  field "score" { type = "int" }
  field "owner" { type = "string" }
  field "seen" { type = "timestamp" }
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

workflow "cel" {
  type   = "upsell"
  model  = "lead"
  sender = "s"
  trigger {
    event  = "purchase"
    filter = "event.category == \"chairs\" && lead.scor > 2"
  }
  goal = "lead.stage"
  step "big" {
    if   = "lead.score >"
    then = "mail"
  }
  step "mail" {
    send = "t"
  }
  step "check" {
    if   = "leed.score > 3 && now > event.at"
    then = "mail"
  }
}

sequence "no_event" {
  model   = "lead"
  segment = "all"
  sender  = "s"
  goal    = "event.bought == true"
  step "one" {
    offset   = "0d"
    template = "t"
  }
}
