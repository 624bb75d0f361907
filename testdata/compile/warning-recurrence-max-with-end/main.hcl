# In mode multiple, max_follow_ups bounds a recurrence that has no end. "yearly"
# has an end and writes max_follow_ups: the end decides, so the number is
# ignored (a warning). "open_ended" has no end: its max_follow_ups applies.
# "single_mode" counts follow-ups with it: it applies too.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
}

segment "leads" {
  model  = "lead"
  filter = "lead.name != \"\""
}

sender "news" {
  from = "news@example.com"
}

template "monthly" {
  subject = "This month"
  text    = "News.\nUnsubscribe: {{ .unsubscribe_url }}\n"
}

autoresponder "yearly" {
  model          = "lead"
  segment        = "leads"
  sender         = "news"
  mode           = "multiple"
  template       = "monthly"
  start          = "2026-01-01"
  end            = "2027-01-01"
  max_follow_ups = 6
  recurrence {
    unit         = "month"
    day_of_month = 1
  }
}

autoresponder "open_ended" {
  model          = "lead"
  segment        = "leads"
  sender         = "news"
  mode           = "multiple"
  template       = "monthly"
  start          = "2026-01-01"
  max_follow_ups = 24
  recurrence {
    unit         = "month"
    day_of_month = 1
  }
}

autoresponder "single_mode" {
  model          = "lead"
  segment        = "leads"
  sender         = "news"
  mode           = "single"
  end            = "2027-01-01"
  max_follow_ups = 2
  follow_up "welcome" {
    offset   = "0d"
    template = "monthly"
  }
}
