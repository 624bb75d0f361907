# Customer-lifecycle mail from the CRM: a welcome on registration, a birthday
# greeting, a wake-up for dormant customers, and a different offer for each
# customer value tier.

# Welcome: the moment a customer registers.
workflow "welcome_on_registration" {
  type   = "customer_onboarding"
  model  = "customer"
  sender = "shop"
  trigger {
    event = "registration"
  }

  step "welcome" {
    send = "registration_welcome"
  }
  step "pause" {
    wait = "3d"
  }
  # Those who have not ordered yet get a first-order incentive.
  step "ordered" {
    if   = "customer.orders > 0"
    then = "done"
  }
  step "first_order_offer" {
    send = "first_order_offer"
  }
  step "done" {
    exit = true
  }
}

# Birthday greeting: every year, on the customer's birthday.
workflow "birthday_greeting" {
  type   = "customer_success"
  model  = "customer"
  sender = "shop"
  trigger {
    event = "date_field"
    field = "customer.birthday"
  }
  # Once a year.
  reenroll {
    allowed = true
    after   = "360d"
  }

  step "greet" {
    send = "birthday_greeting"
  }
}

# Wake-up mail for customers who have not been seen for four months.
workflow "wake_up_dormant_customers" {
  type   = "re_engagement"
  model  = "customer"
  sender = "shop"
  trigger {
    event        = "inactivity"
    inactive_for = "120d"
  }
  # Back: they visited or ordered since the wake-up started.
  goal = "has(customer.last_seen_at) && customer.last_seen_at > event.at"

  step "wake_up" {
    send = "wake_up"
  }
  step "pause" {
    wait = "7d"
  }
  step "last_try" {
    send = "wake_up_last_try"
  }
}

# A different offer for each value tier, all sent the same morning.
segment "tier_gold" {
  model  = "customer"
  filter = "customer.value_tier == \"gold\" && !customer.do_not_email"
}

segment "tier_silver" {
  model  = "customer"
  filter = "customer.value_tier == \"silver\" && !customer.do_not_email"
}

segment "tier_bronze" {
  model  = "customer"
  filter = "customer.value_tier == \"bronze\" && !customer.do_not_email"
}

campaign "tier_offer_gold" {
  segment  = "tier_gold"
  template = "tier_offer_gold"
  sender   = "shop"
  send_at  = "2026-11-27T08:00:00Z"
}

campaign "tier_offer_silver" {
  segment  = "tier_silver"
  template = "tier_offer_silver"
  sender   = "shop"
  send_at  = "2026-11-27T08:00:00Z"
}

campaign "tier_offer_bronze" {
  segment  = "tier_bronze"
  template = "tier_offer_bronze"
  sender   = "shop"
  send_at  = "2026-11-27T08:00:00Z"
}

template "registration_welcome" {
  subject = "Welcome to Acme, {{ .customer.name | default \"new friend\" }}!"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Your Acme account is ready. Your orders, invoices and returns are all in
    your account page, and our support team answers within a working day.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "first_order_offer" {
  subject = "10% off your first order"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Ready for your first order? Use the code WELCOME10 for 10% off, this week.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "birthday_greeting" {
  subject = "Happy birthday, {{ .customer.name | default \"from all of us\" }}!"
  text    = <<-EOT
    Happy birthday, {{ .customer.name | default "dear customer" }}!

    Your birthday gift: free delivery on everything this month.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "wake_up" {
  subject = "We've missed you"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    It has been a while! Here is what is new since your last visit, and 15%
    off your next order with the code BACK15.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "wake_up_last_try" {
  subject = "Should we stop writing?"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    We don't want to fill your inbox. If Acme is not for you any more, the link
    below stops our newsletters in one click; otherwise, BACK15 still works
    this week.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "tier_offer_gold" {
  subject = "Early access for our gold customers"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    As one of our gold customers, you shop the winter collection 48 hours
    before everyone else, with 20% off.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "tier_offer_silver" {
  subject = "15% off the winter collection"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    The winter collection is here: 15% off for our silver customers, this week.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "tier_offer_bronze" {
  subject = "Free delivery on the winter collection"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    The winter collection is here, with free delivery this week.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
