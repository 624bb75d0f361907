# Event retention: two policies declare one, the longest (400 days, policy
# "default") applies to the whole plan, and the shorter one (policy "short",
# 57 weeks) is a warning: it keeps nothing for less. Every engagement
# predicate and trigger window fits inside the 400 days.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "active" { type = "bool" }
}

segment "recent_clickers" {
  model  = "lead"
  filter = "lead.clicked(days(400)) && lead.event_count(\"page_view\", duration(\"720h\")) >= 2"
}

sender "s" {
  from = "News <news@acme.example>"
}

policy "default" {
  event_retention = "400d"
}

policy "short" {
  event_retention = "57w"
}

template "news" {
  subject = "News"
  text    = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
}

campaign "weekly" {
  segment  = "recent_clickers"
  template = "news"
  sender   = "s"
  policy   = "short"
}

workflow "quiet" {
  type   = "re_engagement"
  model  = "lead"
  sender = "s"
  trigger {
    event        = "inactivity"
    inactive_for = "52w"
  }
  step "nudge" {
    send = "news"
  }
}
