# type customer_service: a customer writes to support. Billing questions go to
# billing; everything else to the support team, round robin. The customer gets
# an acknowledgement and the new owner an internal email.
workflow "support_triage" {
  type   = "customer_service"
  model  = "customer"
  class  = "transactional"
  sender = "support"
  trigger {
    event = "inbound_email"
    property "category" { type = "string" }
  }

  step "billing" {
    if   = "event.category == \"billing\""
    then = "assign_billing"
    else = "assign_support"
  }
  step "assign_billing" {
    assign_owner = ["billing@acme.example"]
    field        = "customer.owner"
    next         = "acknowledge"
  }
  step "assign_support" {
    assign_owner = ["sam@acme.example", "lee@acme.example", "kim@acme.example"]
    field        = "customer.owner"
  }
  step "acknowledge" {
    send = "support_acknowledgement"
  }
  step "tell_owner" {
    notify_owner = "support_new_request"
  }
}

template "support_acknowledgement" {
  class   = "transactional"
  subject = "We've received your message"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Thanks for writing to us. {{ .customer.owner | default "Our team" }} will answer
    within one working day.
  EOT
}

template "support_new_request" {
  class   = "internal"
  subject = "New request from {{ .customer.name }}"
  text    = <<-EOT
    {{ .customer.name }} ({{ .customer.value_tier }} tier, {{ .customer.orders }} orders)
    wrote to support and is now assigned to you.
  EOT
}
