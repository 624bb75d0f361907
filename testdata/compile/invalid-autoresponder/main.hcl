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

autoresponder "single_with_recurrence" {
  model   = "lead"
  segment = "all"
  sender  = "s"
  mode    = "single"
  start   = "2026-05-01"
  end     = "2026-04-01"
  follow_up "a" {
    offset   = "0d"
    template = "t"
  }
  recurrence {
    unit  = "day"
    every = 1
  }
  do_not_email = "lead.name"
}

autoresponder "weekly_without_days" {
  model          = "lead"
  segment        = "all"
  sender         = "s"
  mode           = "multiple"
  template       = "t"
  max_follow_ups = 0
  recurrence {
    unit = "week"
  }
}

autoresponder "bad_mode" {
  model   = "lead"
  segment = "all"
  sender  = "s"
  mode    = "several"
  start   = "May 1st"
}
