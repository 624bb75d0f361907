# Trigger attributes the trigger's event does not use: each would validate and
# do nothing (a threshold on a content download enrolls on the first
# download), so each is refused where it is written.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "score" { type = "int" }
}

sender "news" {
  from     = "Acme <news@acme.example>"
  reply_to = "hello@acme.example"
}

template "more" {
  subject = "More on the topic, {{ .lead.name }}"
  text    = "More. Unsubscribe: {{ .unsubscribe_url }}"
}

workflow "guide_followup" {
  type   = "topic"
  model  = "lead"
  sender = "news"
  trigger {
    event     = "content_download"
    topic     = "inventory-planning"
    threshold = 3
    window    = "7d"
  }
  step "more" {
    send = "more"
  }
}

workflow "engaged" {
  type   = "engaged_contacts"
  model  = "lead"
  sender = "news"
  trigger {
    event     = "engagement_threshold"
    threshold = 5
    window    = "14d"
    topic     = "pricing"
  }
  step "more" {
    send = "more"
  }
}
