# Event retention: values that mean nothing, and predicates that look further
# back than the longest retention (400 days) keeps.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
}

segment "old_clickers" {
  model  = "lead"
  filter = "lead.clicked(days(500)) || lead.opened(\"weekly\", \"\")"
}

segment "long_gone" {
  model  = "lead"
  filter = "lead.inactive_for(duration(\"9700h\")) && lead.event_count(\"page_view\", \"makeup\", days(30)) > 0"
}

sender "s" {
  from = "News <news@acme.example>"
}

policy "default" {
  event_retention = "400d"
}

policy "hours" {
  event_retention = "36h"
}

policy "partial_day" {
  event_retention = "40d12h"
}

policy "words" {
  event_retention = "13 months"
}

policy "week" {
  event_retention = "7d"
}

policy "backwards" {
  event_retention = "-400d"
}

template "news" {
  subject = "News"
  text    = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
}

campaign "weekly" {
  segment  = "old_clickers"
  template = "news"
  sender   = "s"
}

workflow "quiet" {
  type   = "re_engagement"
  model  = "lead"
  sender = "s"
  trigger {
    event        = "inactivity"
    inactive_for = "60w"
  }
  step "nudge" {
    send = "news"
  }
}
