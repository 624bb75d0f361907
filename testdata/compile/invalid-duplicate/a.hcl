model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "stage" { type = "string" }
  field "stage" { type = "int" }
}

segment "won" {
  model  = "lead"
  filter = "lead.stage == \"Won\""
}
