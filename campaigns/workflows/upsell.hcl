# type upsell: a customer buys shelving; three days later we suggest the
# accessories that go with it.
workflow "shelving_accessories" {
  type   = "upsell"
  model  = "customer"
  sender = "shop"
  trigger {
    event  = "purchase"
    filter = "event.category == \"shelving\""
    property "category" { type = "string" }
  }

  step "pause" {
    wait = "3d"
  }
  step "suggest" {
    send = "shelving_accessories"
  }
}

template "shelving_accessories" {
  subject = "The finishing touch for your new shelving"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Dividers, label holders and bin boxes that fit your new shelving exactly,
    with free delivery if you order this week.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
