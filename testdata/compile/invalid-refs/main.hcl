model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "stage" { type = "string" }
}

segment "lost_leads" {
  model  = "leads"
  filter = "lead.stage == \"Lost\""
}

segment "won_leads" {
  model  = "lead"
  filter = "lead.stage == \"Won\""
}

sender "warehouse" {
  from = "news@acme.example"
}

template "back_in_stock" {
  subject = "Back in stock"
  text    = "Unsubscribe: {{ .unsubscribe_url }}"
}

campaign "reactivation" {
  segment  = "won_lead"
  template = "back_in_stok"
  sender   = "warehose"
}

campaign "nothing_close" {
  segment  = "completely_different"
  template = "back_in_stock"
  sender   = "warehouse"
}
