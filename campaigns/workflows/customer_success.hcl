# type customer_success: a customer logs in 20 times in a week. They are power
# users now: advanced tips, and a lifecycle stage that marks them as advocates.
workflow "power_users" {
  type   = "customer_success"
  model  = "customer"
  sender = "customer_success"
  trigger {
    event     = "metric_threshold"
    field     = "customer.weekly_logins"
    threshold = 20
  }

  step "tips" {
    send = "power_user_tips"
  }
  step "mark_advocate" {
    set_property = "customer.lifecycle_stage"
    value        = "advocate"
  }
}

template "power_user_tips" {
  subject = "You're an Acme power user: five shortcuts"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    You logged in more than 20 times last week! Five shortcuts our busiest
    users swear by.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
