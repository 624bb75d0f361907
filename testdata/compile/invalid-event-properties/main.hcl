model "customer" {
  table = "res_partner"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
}

sender "s" {
  from = "Shop <shop@acme.example>"
}

template "t" {
  subject = "Your cart"
  text    = "Hi {{ .customer.name }}. {{ .unsubscribe_url }}"
}

workflow "cart_rescue" {
  type   = "abandoned_cart"
  model  = "customer"
  sender = "s"
  trigger {
    event  = "cart_abandoned"
    filter = "event.value >= \"thirty\" && event.vlue > 2.0"
    property "value" { type = "float" }
    property "items" { type = "int" }
  }
  goal = "event.items > 2.5"
  step "mail" {
    if   = "event.at < now && event.topic == \"x\" && event.currency == \"EUR\""
    then = "send"
  }
  step "send" { send = "t" }
  step "late" {
    wait        = "1d"
    relative_to = "event.expires"
  }
  step "later" {
    wait        = "1d"
    relative_to = "event.value"
  }
}

workflow "cart_again" {
  type   = "abandoned_cart"
  model  = "customer"
  sender = "s"
  trigger {
    event = "cart_abandoned"
    property "value" { type = "string" }
    property "at" { type = "timestamp" }
    property "coupon" { type = "money" }
  }
  step "send" { send = "t" }
}

workflow "segment_based" {
  type   = "engaged_contacts"
  model  = "customer"
  sender = "s"
  trigger {
    event   = "segment_entry"
    segment = "x"
    filter  = "customer.name != \"\" && event.value > 1.0"
    property "value" { type = "float" }
  }
  step "send" { send = "t" }
}
