# A state trigger enrolls contacts whose fields newly match; there is no
# stored event, so event.<name> holds only at (when the contact enrolled),
# type and key. A wait relative to any other event field would find no time
# for any contact and always be skipped: the compiler refuses it, and points
# at the contact's own timestamp field instead.
model "customer" {
  table = "crm_customer"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "next_purchase_at" {
    type     = "timestamp"
    nullable = true
  }
  field "last_order_at" {
    type     = "timestamp"
    nullable = true
  }
}

sender "shop" {
  from = "shop@acme.example"
}

template "reminder" {
  subject = "Time to restock?"
  text    = "Hi {{ .customer.name }}. Unsubscribe: {{ .unsubscribe_url }}"
}

workflow "restock" {
  type   = "purchase_reminder"
  model  = "customer"
  sender = "shop"
  trigger {
    event = "purchase_cycle"
    field = "customer.next_purchase_at"
  }
  goal = "has(customer.last_order_at) && customer.last_order_at > event.at"

  # Wrong: the date is the contact's field, not the event's.
  step "before" {
    wait        = "-3d"
    relative_to = "event.date"
  }
  step "remind" {
    send = "reminder"
  }
  # Right: event.at is when the contact enrolled.
  step "later" {
    wait        = "7d"
    relative_to = "event.at"
  }
  step "remind_again" {
    send = "reminder"
  }
}
