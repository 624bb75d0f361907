model "lead" {
  table          = "crm_lead"
  key            = "id"
  email          = "email_from"
  default_filter = "lead.active"

  field "name"          { type = "string" }
  field "stage"         { type = "string" }
  field "lost_reason"   { type = "string" }
  field "active"        { type = "bool" }
  field "blacklisted"   { type = "bool" }
  field "created_at"    { type = "timestamp" }
  field "owner"         { type = "string" }
  field "customer_tier" { type = "string" }
}

sender "warehouse" {
  from     = "Acme Warehouse <news@acme.example>"
  reply_to = "sales@acme.example"
}
