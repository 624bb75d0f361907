model "Lead-Data" {
  table = "CRM Lead"
  key   = "id"
  email = "1email"
  field "Stage" { type = "string" }
  field "in"    { type = "bool" }
  field "ok" {
    type   = "string"
    column = "ok-column"
  }
}

model "now" {
  table = "public.now_table"
  key   = "id"
  email = "email"
}

segment "2fast" {
  model  = "now"
  filter = "true"
}

sender "sales team" {
  from = "sales@acme.example"
}
