# type purchase_reminder: a customer's next order is due, from their purchase
# cycle. A reminder three days before, a last call on the day; an order ends it.
workflow "reorder_reminder" {
  type   = "purchase_reminder"
  model  = "customer"
  sender = "shop"
  trigger {
    event = "purchase_cycle"
    field = "customer.next_purchase_at"
  }
  goal = "has(customer.last_order_at) && customer.last_order_at > timestamp(event.at)"

  step "three_days_before" {
    wait        = "-3d"
    relative_to = "customer.next_purchase_at"
  }
  step "remind" {
    send = "reorder_reminder"
  }
  step "on_the_day" {
    wait        = "0d"
    relative_to = "customer.next_purchase_at"
  }
  step "last_call" {
    send = "reorder_last_call"
  }
}

template "reorder_reminder" {
  subject = "Time to restock?"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Going by your last orders, you will run low in a few days. Reorder in one
    click from your account page.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "reorder_last_call" {
  subject = "Reorder today, delivered tomorrow"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Order before 16:00 today and your usual items arrive tomorrow.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
