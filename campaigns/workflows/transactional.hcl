# type transactional: a customer signs a quote. The confirmation is service
# mail: it reaches them even if they unsubscribed from marketing.
workflow "quote_signed" {
  type   = "transactional"
  model  = "customer"
  sender = "shop"
  trigger {
    event = "quote_signed"
  }

  step "confirm" {
    send = "quote_confirmation"
  }
  step "mark_customer" {
    set_property = "customer.lifecycle_stage"
    value        = "customer"
  }
  step "tell_owner" {
    notify_owner = "deal_won_alert"
  }
}

template "quote_confirmation" {
  class   = "transactional"
  subject = "Your order is confirmed"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Thank you for signing your quote. Your order is confirmed; you will receive
    the delivery date within two working days.
  EOT
}

template "deal_won_alert" {
  class   = "internal"
  subject = "Quote signed: {{ .customer.name }}"
  text    = <<-EOT
    {{ .customer.name }} signed their quote. Order count is now
    {{ .customer.orders }}; lifetime value {{ .customer.lifetime_value }}.
  EOT
}
