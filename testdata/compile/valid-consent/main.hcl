# Consent: the model says how consent reads (in general and per subscription
# type), the default policy is opt_in, a template belongs to a subscription
# type, and an opt_out policy keeps the old rule for the objects that name it.
model "lead" {
  table   = "crm_lead"
  key     = "id"
  email   = "email"
  consent = "lead.marketing_opt_in"
  field "name" { type = "string" }
  field "marketing_opt_in" { type = "bool" }
  field "newsletter_opt_in" { type = "bool" }

  subscription "newsletter" { consent = "lead.newsletter_opt_in" }
  subscription "offers" {}
}

segment "leads" {
  model  = "lead"
  filter = "true"
}

sender "s" {
  from = "News <news@acme.example>"
}

policy "default" {
  consent = "opt_in"
}

policy "legacy" {
  consent = "opt_out"
}

template "news" {
  subject      = "News"
  text         = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
  subscription = "newsletter"
}

template "offer" {
  subject      = "Offer"
  text         = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
  subscription = "offers"
}

campaign "weekly" {
  segment  = "leads"
  template = "news"
  sender   = "s"
}

campaign "deal" {
  segment  = "leads"
  template = "offer"
  sender   = "s"
  policy   = "legacy"
}
