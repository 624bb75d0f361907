# A global policy, a campaign with a class, a policy and an A/B test, a
# transactional template, and a model default filter kept out of segment
# filters.
model "lead" {
  table          = "crm_lead"
  key            = "id"
  email          = "email"
  default_filter = <<-CEL
    lead.active // archived leads are hidden
  CEL
  field "name" { type = "string" }
  field "active" { type = "bool" }
}

segment "active_leads" {
  model  = "lead"
  filter = "true"
}

segment "every_lead" {
  model            = "lead"
  include_archived = true
  filter           = "true"
}

sender "news" {
  from     = "Acme <news@acme.example>"
  reply_to = "hello@acme.example"
}

policy "default" {
  daily_quota     = 1000
  rate_per_minute = 60
  quiet_hours {
    start = "21:00"
    end   = "08:00"
  }
  frequency_cap {
    max = 3
    per = "1w"
  }
  suppress = ["unsubscribed", "blacklisted", "hard_bounce", "complaint"]
  bypass {
    transactional = ["quiet_hours", "frequency_cap", "unsubscribed"]
  }
  require_org_reply_to         = true
  org_domains                  = ["acme.example"]
  audience_growth_warn_percent = 25
}

policy "gentle" {
  rate_per_minute = 10
}

template "promo" {
  subject = "Spring sale"
  text    = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
}

template "promo_b" {
  subject = "Spring sale, {{ .lead.name }}"
  text    = "Hello {{ .lead.name }}. {{ .unsubscribe_url }}"
}

template "terms" {
  class   = "transactional"
  subject = "Our terms are changing"
  text    = "Hi {{ .lead.name }}, our terms change on 1 May."
}

campaign "spring_sale" {
  segment  = "active_leads"
  template = "promo"
  sender   = "news"
  policy   = "gentle"
  send_at  = "2026-04-01T09:00:00+02:00"
  ab_test {
    test_percent = 20
    metric       = "click_rate"
    decide_after = "1d"
    variant "plain" {
      subject = "Spring sale"
    }
    variant "personal" {
      template = "promo_b"
      subject  = "Your spring sale, {{ .lead.name }}"
    }
  }
}

campaign "terms_update" {
  segment  = "every_lead"
  template = "terms"
  sender   = "news"
  class    = "transactional"
}
