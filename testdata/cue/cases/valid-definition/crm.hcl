model "lead" {
  table          = "crm_lead"
  key            = "id"
  email          = "email_from"
  default_filter = "lead.active"

  field "name"        { type = "string" }
  field "stage"       { type = "string" }
  field "lost_reason" { type = "string" }
  field "active"      { type = "bool" }
  field "blacklisted" { type = "bool" }
}

sender "warehouse" {
  from = "Acme Warehouse <news@acme.example>"
}
