# paused is a bool on every kind that runs: a string or a number is refused
# where it is written, and the object is not taken as paused.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
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

campaign "c" {
  segment  = "all"
  template = "t"
  sender   = "s"
  paused   = "yes"
}

sequence "q" {
  model   = "lead"
  segment = "all"
  sender  = "s"
  paused  = 1
  step "one" {
    offset   = "0d"
    template = "t"
  }
}

workflow "w" {
  type   = "customer_onboarding"
  model  = "lead"
  sender = "s"
  paused = "true"
  trigger {
    event = "registration"
  }
  step "hello" {
    send = "t"
  }
}

autoresponder "r" {
  model   = "lead"
  segment = "all"
  sender  = "s"
  mode    = "single"
  paused  = ["no"]
  follow_up "now" {
    offset   = "0d"
    template = "t"
  }
}
