# type customer_onboarding: a contact's lifecycle stage becomes "customer"; the
# first two weeks teach them the product, and their rep steps in if they are
# not using it.
workflow "new_customer_onboarding" {
  type   = "customer_onboarding"
  model  = "customer"
  sender = "customer_success"
  trigger {
    event  = "lifecycle_change"
    filter = "event.to == \"customer\""
    property "from" { type = "string" }
    property "to" { type = "string" }
  }

  step "day_0" {
    send = "onboarding_day_0"
  }
  step "wait_2d" {
    wait = "2d"
  }
  step "day_2" {
    send = "onboarding_day_2"
  }
  step "wait_5d" {
    wait = "5d"
  }
  step "using_it" {
    if   = "customer.weekly_logins >= 3"
    then = "done"
  }
  step "tell_owner" {
    notify_owner = "onboarding_stalled_alert"
  }
  step "done" {
    exit = true
  }
}

template "onboarding_day_0" {
  subject = "Let's get you set up"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Welcome aboard! Setting up takes about 15 minutes: connect your shop, then
    import your products. This guide walks you through both.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "onboarding_day_2" {
  subject = "Your first week with Acme: three tips"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Three things that save our customers an hour a day: saved searches, low-stock
    alerts and the mobile app.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

# Internal: to the customer's owner, so no unsubscribe link.
template "onboarding_stalled_alert" {
  class   = "internal"
  subject = "Onboarding stalled: {{ .customer.name }}"
  text    = <<-EOT
    {{ .customer.name }} became a customer a week ago and logged in
    {{ .customer.weekly_logins }} times since. A call could help.
  EOT
}
