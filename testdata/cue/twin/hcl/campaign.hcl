model "lead" {
  table          = "crm_lead"
  key            = "id"
  email          = "email_from"
  default_filter = "lead.active"

  field "name" { type = "string" }
  field "stage" { type = "string" }
  field "lost_reason" { type = "string" }
  field "active" { type = "bool" }
  field "blacklisted" { type = "bool" }
  field "created_at" { type = "timestamp" }
  field "owner" { type = "string" }

  consent = "!lead.blacklisted"
  subscription "offers" { consent = "lead.active && !lead.blacklisted" }
  subscription "news" {
    double_opt_in    = true
    confirm_template = "news_confirm"
    confirm_sender   = "warehouse"
    confirm_within   = "2d"
    wording_version  = "2026-11"
  }
}

template "news_confirm" {
  class   = "transactional"
  subject = "Confirm your subscription to our news"
  text    = "Hello {{ .lead.name }}, please confirm: {{ .confirm_url }}"
}

sender "warehouse" {
  from     = "Acme Warehouse <news@acme.example>"
  reply_to = "sales@acme.example"
}

segment "lost_not_enough_stock" {
  model            = "lead"
  include_archived = true
  filter           = <<-CEL
    !lead.blacklisted
    && lead.created_at >= timestamp("2024-01-01T00:00:01Z")
    && !(lead.stage in ["New", "Qualified", "Won"])
    && lead.lost_reason == "Not enough stock"
  CEL
}

template "back_in_stock" {
  subject = "Limited items are back in stock! Act now!"
  html    = file("templates/back_in_stock.html")
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    The items you asked about are back in stock, in limited quantities.
    Reply to this email and {{ .lead.owner | default "our team" }} will reserve yours.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

campaign "lost_leads_reactivation" {
  segment  = "lost_not_enough_stock"
  template = "back_in_stock"
  sender   = "warehouse"
  send_at  = "2026-12-01T09:00:00Z"
}
