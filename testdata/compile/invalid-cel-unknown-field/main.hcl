model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "stage"  { type = "string" }
  field "active" { type = "bool" }
}

segment "won" {
  model  = "lead"
  filter = "lead.active && lead.stge == \"Won\""
}

segment "typo_model" {
  model  = "lead"
  filter = "leed.stage == \"Won\""
}

segment "typo_function" {
  model  = "lead"
  filter = "lead.active && timestmp(\"2024-01-01T00:00:00Z\") < now"
}

segment "typo_segment" {
  model  = "lead"
  filter = "segment.wn || lead.stage == \"Lost\""
}
