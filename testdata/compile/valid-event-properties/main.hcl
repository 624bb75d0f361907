model "customer" {
  table = "res_partner"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "last_order_at" {
    type     = "timestamp"
    nullable = true
  }
}

sender "shop" {
  from = "Shop <shop@acme.example>"
}

template "cart_reminder" {
  subject = "You left something in your cart"
  text    = "Hi {{ .customer.name }}. {{ .unsubscribe_url }}"
}

workflow "cart_rescue" {
  type   = "abandoned_cart"
  model  = "customer"
  sender = "shop"
  trigger {
    event  = "cart_abandoned"
    filter = "event.value >= 20.0 && event.items > 0 && !(\"gift_card\" in event.skus)"
    property "value" { type = "float" }
    property "items" { type = "int" }
    property "skus" { type = "list(string)" }
    property "expires_at" { type = "timestamp" }
  }
  goal = "has(customer.last_order_at) && customer.last_order_at > event.at"
  step "reminder" { send = "cart_reminder" }
  step "big" {
    if   = "event.value >= 100.0 && event.expires_at > now"
    then = "again"
  }
  step "done" { exit = true }
  step "again" {
    wait        = "-1h"
    relative_to = "event.expires_at"
  }
  step "last" { send = "cart_reminder" }
}
