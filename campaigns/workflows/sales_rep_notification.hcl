# type sales_rep_notification: a lead views the pricing page. A lead without an
# owner is given one, round robin; the owner gets an internal email. The lead
# gets nothing.
workflow "pricing_page_alert" {
  type   = "sales_rep_notification"
  model  = "lead"
  sender = "sales_alerts"
  trigger {
    event = "page_view"
    topic = "pricing"
  }
  # At most one alert per lead per week, however often they look.
  reenroll {
    allowed = true
    after   = "7d"
  }

  step "has_owner" {
    if   = "lead.owner != \"\""
    then = "notify"
  }
  step "assign" {
    assign_owner = ["alice@acme.example", "bob@acme.example", "carol@acme.example"]
    field        = "lead.owner"
  }
  step "notify" {
    notify_owner = "pricing_view_alert"
  }
}

template "pricing_view_alert" {
  class   = "internal"
  subject = "{{ .lead.name }} is looking at pricing"
  text    = <<-EOT
    {{ .lead.name }} ({{ .lead.stage | default "no stage" }}) just viewed the pricing page.
    Expected revenue: {{ .lead.expected_revenue }}. A call today is well timed.
  EOT
}
