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

model "customer" {
  table = "crm_customer"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
}

segment "customers" {
  model  = "customer"
  filter = "true"
}

sequence "s" {
  model   = "lead"
  segment = "customers"
  sender  = "s"
  goal    = "lead.score"
  step "one" {
    offset   = "7d"
    template = "t"
    when {
      step  = "two"
      event = "clicked"
    }
  }
  step "two" {
    offset   = "7d"
    template = "t"
    when {
      step  = "one"
      event = "clicked"
    }
  }
  step "three" {
    offset   = "14d"
    template = "tt"
    when {
      step  = "thre"
      event = "ignore"
    }
  }
  step "three" {
    offset   = "21d"
    template = "t"
  }
}
