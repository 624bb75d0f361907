# Under an opt_in policy, marketing mail needs a consent rule on the
# recipients' model (for the template's subscription type, or the model's
# own); a template's subscription must be declared on the model; consent is a
# bool condition; a policy's consent is opt_in or opt_out.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "offers_ok" { type = "bool" }

  subscription "offers" { consent = "lead.offers_ok" }
  subscription "newsletter" {}
}

model "customer" {
  table   = "crm_customer"
  key     = "id"
  email   = "email"
  consent = "customer.name"
  field "name" { type = "string" }
  subscription "offers" {}
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

policy "loose" {
  consent = "opt-out"
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

template "other" {
  subject      = "Other"
  text         = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
  subscription = "newsletters"
}

template "receipt" {
  subject = "Your receipt"
  text    = "Hi {{ .lead.name }}."
  class   = "transactional"
}

# No consent rule for the newsletter: refused.
campaign "weekly" {
  segment  = "leads"
  template = "news"
  sender   = "s"
}

# offers has its own consent rule: accepted.
campaign "deal" {
  segment  = "leads"
  template = "offer"
  sender   = "s"
}

# An undeclared subscription type.
campaign "misc" {
  segment  = "leads"
  template = "other"
  sender   = "s"
}

# Transactional mail needs no consent.
campaign "receipts" {
  segment  = "leads"
  template = "receipt"
  sender   = "s"
  class    = "transactional"
}

sequence "nurture" {
  model   = "lead"
  segment = "leads"
  sender  = "s"
  step "one" {
    offset   = "0d"
    template = "news"
  }
}
