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

# A step's kind is the one attribute among wait, send, if, engagement,
# set_property, clear_property, notify_owner, assign_owner and exit it has.
workflow "w" {
  type   = "blog_welcome"
  model  = "lead"
  sender = "s"
  trigger {
    event = "blog_subscription"
  }
  step "nothing" {
    next = "two"
  }
  step "two" {
    wait = "1d"
    send = "t"
  }
  step "both_tests" {
    if = "lead.score > 3"
    engagement {
      step  = "two"
      event = "opened"
    }
    then = "stay"
  }
  step "stay" {
    exit = false
  }
  step "set" {
    set_property = "lead.stage"
    field        = "lead.owner"
    value        = "x"
  }
  step "wrong_fields" {
    wait     = "1d"
    then     = "set"
    template = "t"
  }
}
