model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "active" { type = "bool" }
  field "score"  { type = "int" }
  field "name"   { type = "string" }
}

segment "yes_leads" {
  model  = "lead"
  filter = "lead.active == \"yes\""
}

segment "not_bool" {
  model  = "lead"
  filter = "lead.name"
}

segment "bad_math" {
  model  = "lead"
  filter = "lead.score + lead.name > 3"
}

segment "bad_call" {
  model  = "lead"
  filter = "lead.name.startsWith(1)"
}

segment "whole_record" {
  model  = "lead"
  filter = "lead"
}

model "contact" {
  table          = "contacts"
  key            = "id"
  email          = "email"
  default_filter = "contact.score"
  field "score" { type = "int" }
}
