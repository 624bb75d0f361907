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

workflow "f" {
  type   = "customer_success"
  model  = "lead"
  sender = "s"
  trigger {
    event     = "metric_threshold"
    field     = "lead.name"
    threshold = 10
  }
  step "plain" {
    set_property = "stage"
    value        = "Won"
  }
  step "typed" {
    set_property = "lead.score"
    value        = "high"
  }
  step "clear" {
    clear_property = "lead.owner"
  }
  step "other_model" {
    set_property = "customer.stage"
    value        = "x"
  }
  step "assign" {
    assign_owner = ["ann@acme.example", "not an address"]
    field        = "lead.score"
  }
  step "relative" {
    wait        = "-1d"
    relative_to = "lead.stage"
  }
  step "mail" {
    send = "t"
  }
}
