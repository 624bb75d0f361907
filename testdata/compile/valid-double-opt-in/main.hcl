# Double opt-in: a request to subscribe to "blog" (a subscribe_requested event
# with topic "blog") sends the transactional confirmation; confirming records
# consent and stores a blog_subscription event, which enrolls blog_welcome.
model "lead" {
  table   = "crm_lead"
  key     = "id"
  email   = "email"
  consent = "lead.marketing_opt_in"
  field "name" { type = "string" }
  field "marketing_opt_in" { type = "bool" }

  subscription "blog" {
    double_opt_in    = true
    confirm_template = "blog_confirm"
    confirm_sender   = "news"
    confirm_within   = "48h"
    wording_version  = "2026-11"
  }
  subscription "offers" {}
}

sender "news" {
  from = "News <news@acme.example>"
}

policy "default" {
  consent = "opt_in"
}

template "blog_confirm" {
  class   = "transactional"
  subject = "Confirm your subscription"
  text    = "Hi {{ .lead.name }}, confirm: {{ .confirm_url }}"
}

template "blog_hello" {
  subject      = "Welcome"
  text         = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
  subscription = "blog"
}

workflow "welcome" {
  type   = "blog_welcome"
  model  = "lead"
  sender = "news"
  trigger {
    event  = "blog_subscription"
    filter = "event.topic == \"blog\""
  }
  step "hello" {
    send = "blog_hello"
  }
}
