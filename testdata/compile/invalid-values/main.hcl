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

policy "p" {
  daily_quota     = 20.5
  rate_per_minute = "fast"
  suppress        = "unsubscribed"
  org_domains     = ["acme.example", 42]
  quiet_hours {
    start = "9pm"
    end   = "9pm"
  }
  quiet_hours {
    start = "21:00"
    end   = "08:00"
  }
  bypass {
    transactionel = ["quiet_hours"]
    marketing     = ["unsubscribed"]
  }
}

workflow "w" {
  type   = "engaged_contacts"
  model  = "lead"
  sender = "s"
  trigger {
    event     = "engagement_threshold"
    threshold = "5"
  }
  trigger {
    event = "segment_entry"
  }
  step "x" {
    exit = "yes"
  }
}
