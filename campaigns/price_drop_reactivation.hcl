# The price-drop twin of lost_leads_reactivation: the same Odoo filter, clause by
# clause, for the leads we lost on price. Not blacklisted; created on or after
# 2024-01-01 00:00:01; stage not New, Qualified or Won; lost reason "Too
# expensive"; active and archived leads both included.
segment "lost_too_expensive" {
  model            = "lead"
  include_archived = true
  filter           = <<-CEL
    !lead.blacklisted
    && lead.created_at >= timestamp("2024-01-01T00:00:01Z")
    && !(lead.stage in ["New", "Qualified", "Won"])
    && lead.lost_reason == "Too expensive"
  CEL
}

template "price_drop" {
  subject = "Good news: the prices you asked about have dropped"
  html    = file("templates/price_drop.html")
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    When we last spoke, our prices did not fit your budget. They have come down:
    most of our range now costs up to 25% less than last year.

    Reply to this email and {{ .lead.owner | default "our team" }} will send you an
    updated quote.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

campaign "price_drop_reactivation" {
  segment  = "lost_too_expensive"
  template = "price_drop"
  sender   = "warehouse"
  # Tuesday morning, when B2B mail is read most.
  send_at = "2026-12-01T09:00:00Z"
}
