# A branch that sets then and else has no use for next: next only stands in
# for a missing else (then is required), so the runtime never reads it here.
# The exit step after it is reached through "big", so nothing else warns.
model "customer" {
  table = "crm_customer"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "tier" { type = "string" }
  field "last_order_at" {
    type     = "timestamp"
    nullable = true
  }
}

sender "shop" {
  from = "shop@acme.example"
}

template "reminder" {
  subject = "Your cart"
  text    = "Hi {{ .customer.name }}. Unsubscribe: {{ .unsubscribe_url }}"
}

workflow "cart" {
  type   = "abandoned_cart"
  model  = "customer"
  sender = "shop"
  trigger {
    event = "cart_abandoned"
  }
  goal = "has(customer.last_order_at)"

  step "remind" {
    send = "reminder"
  }
  step "tier" {
    if   = "customer.tier == \"gold\""
    then = "big"
    else = "small"
    next = "done"
  }
  step "big" {
    wait = "1d"
    next = "done"
  }
  step "small" {
    exit = true
  }
  step "done" {
    exit = true
  }
}
