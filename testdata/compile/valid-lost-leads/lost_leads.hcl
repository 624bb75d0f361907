model "lead" {
  table          = "crm_lead"
  key            = "id"
  email          = "email_from"      # column holding the email address
  default_filter = "lead.active"     # optional CEL; segments imply it unless include_archived
  field "name"        { type = "string" }
  field "stage"       { type = "string" }
  field "lost_reason" {
    type   = "string"
    column = "lost_reason"   # optional, defaults to the field name
  }
  field "active"      { type = "bool" }
  field "blacklisted" { type = "bool" }
  field "created_at"  { type = "timestamp" }
  field "tags"        { type = "list(string)" }
}
segment "lost_not_enough_stock" {
  model            = "lead"
  include_archived = true
  filter = <<-CEL
    !lead.blacklisted
    && lead.created_at >= timestamp("2024-01-01T00:00:01Z")
    && !(lead.stage in ["New", "Qualified", "Won"])
    && lead.lost_reason == "Not enough stock"
  CEL
}
sender "warehouse" {
  from     = "Acme Warehouse <news@acme.example>"
  reply_to = "sales@acme.example"   # optional
}
template "back_in_stock" {
  subject = "Limited items are back in stock, {{ .lead.name | default \"friend\" }}!"
  html    = file("templates/back_in_stock.html")   # path relative to this .hcl file
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }} ...
    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
campaign "lost_leads_reactivation" {
  segment  = "lost_not_enough_stock"
  template = "back_in_stock"
  sender   = "warehouse"
  send_at  = "2026-12-01T09:00:00Z"   # optional; absent = when applied
}
