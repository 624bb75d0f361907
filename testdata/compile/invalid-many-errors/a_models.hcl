model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "stage"  { type = "string" }
  field "active" { type = "boolean" }
  field "score"  { type = "int" }
}
