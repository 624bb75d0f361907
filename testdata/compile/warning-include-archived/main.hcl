# include_archived lifts the model's default_filter. "contact" has none, so
# segment "everyone" asking for archived rows changes nothing (a warning);
# "lead" has one, which segment "all_leads" lifts (no warning).
model "contact" {
  table = "contacts"
  key   = "id"
  email = "email"
  field "country" { type = "string" }
}

model "lead" {
  table          = "crm_lead"
  key            = "id"
  email          = "email"
  default_filter = "lead.active"
  field "active" { type = "bool" }
}

segment "everyone" {
  model            = "contact"
  include_archived = true
  filter           = "contact.country != \"\""
}

segment "all_leads" {
  model            = "lead"
  include_archived = true
  filter           = "true"
}
