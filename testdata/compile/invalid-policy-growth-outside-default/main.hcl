# audience_growth_warn_percent on a policy other than "default": campaignctl
# diff reads it from the default policy only (segments belong to no policy),
# so it is refused rather than accepted and never used.
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
  from     = "Acme <news@acme.example>"
  reply_to = "hello@acme.example"
}

template "hello" {
  subject = "Hello {{ .lead.name }}"
  text    = "Hello. Unsubscribe: {{ .unsubscribe_url }}"
}

policy "default" {
  audience_growth_warn_percent = 50
}

policy "strict" {
  daily_quota                  = 100
  audience_growth_warn_percent = 5
}

campaign "spring" {
  segment  = "leads"
  template = "hello"
  sender   = "news"
  policy   = "strict"
}
