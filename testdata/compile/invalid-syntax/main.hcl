model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
}

segment "broken" {
  model  = "lead"
  filter = "lead.name == \"x\""
  include_archived = 
}
