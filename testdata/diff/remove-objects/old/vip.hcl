segment "gold_customers" {
  model  = "lead"
  filter = <<-CEL
    lead.customer_tier == "gold"
    && !lead.blacklisted
  CEL
}

template "gold_offer" {
  subject = "A thank-you for our gold customers"
  text    = <<-EOT
    Hello {{ .lead.name }},
    Here is 20% off your next order.
    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

campaign "gold_thanks" {
  segment  = "gold_customers"
  template = "gold_offer"
  sender   = "warehouse"
  send_at  = "2026-12-01T09:00:00Z"
}
