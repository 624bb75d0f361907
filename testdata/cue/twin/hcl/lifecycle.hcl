# The kinds beyond the lost-leads mailing, for the HCL/CUE twin: a policy, an
# A/B campaign, a workflow with every step kind that needs no special
# trigger, a nurture sequence and an autoresponder.

policy "default" {
  daily_quota     = 5000
  rate_per_minute = 120
  suppress        = ["unsubscribed", "blacklisted", "hard_bounce", "complaint"]
  consent         = "opt_in"
  event_retention = "400d"

  require_org_reply_to = true
  org_domains          = ["acme.example"]

  quiet_hours {
    start = "21:00"
    end   = "08:00"
  }

  frequency_cap {
    max = 3
    per = "7d"
  }

  bypass {
    transactional = ["quiet_hours", "frequency_cap"]
    internal      = ["quiet_hours"]
  }
}

segment "won_customers" {
  model  = "lead"
  filter = "lead.stage == \"Won\""
}

template "spring_offer" {
  subscription = "offers"
  subject      = "Spring offer for you, {{ .lead.name | default \"friend\" }}"
  text         = <<-EOT
    Our spring offer is here.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "owner_alert" {
  class   = "internal"
  subject = "{{ .lead.name }} is back"
  text    = "Lead {{ .lead.name }} came back to the pricing page.\n"
}

campaign "spring_offer" {
  segment  = "won_customers"
  template = "spring_offer"
  sender   = "warehouse"
  send_at  = "2027-03-21T08:00:00Z"
  paused   = true

  ab_test {
    test_percent = 20
    metric       = "open_rate"
    decide_after = "4h"

    variant "plain" {
      subject = "Our spring offer"
    }
    variant "personal" {
      subject = "{{ .lead.name | default \"Hello\" }}, our spring offer"
    }
  }
}

workflow "cart_rescue" {
  type   = "abandoned_cart"
  model  = "lead"
  sender = "warehouse"
  goal   = "lead.stage == \"Won\""
  paused = true

  trigger {
    event = "cart_abandoned"
  }

  step "pause" {
    wait = "1h"
  }
  step "reminder" {
    send = "back_in_stock"
  }
  step "opened" {
    engagement {
      step   = "reminder"
      event  = "opened"
      within = "2d"
    }
    then = "tell_owner"
    else = "done"
  }
  step "tell_owner" {
    notify_owner = "owner_alert"
  }
  step "mark" {
    set_property = "lead.stage"
    value        = "Proposition"
  }
  step "done" {
    exit = true
  }
}

sequence "restock" {
  model   = "lead"
  segment = "lost_not_enough_stock"
  sender  = "warehouse"
  goal    = "lead.stage == \"Won\""
  paused  = true

  step "week1" {
    offset   = "0d"
    template = "back_in_stock"
  }
  step "week2" {
    offset   = "7d"
    template = "spring_offer"
    when {
      step  = "week1"
      event = "ignored"
    }
  }
}

autoresponder "trial" {
  model              = "lead"
  segment            = "won_customers"
  sender             = "warehouse"
  mode               = "single"
  start              = "2027-01-01"
  exclude_responders = true
  paused             = false

  follow_up "day3" {
    offset   = "3d"
    template = "spring_offer"
  }
  follow_up "day10" {
    offset   = "10d"
    template = "back_in_stock"
  }
}

autoresponder "weekly" {
  model          = "lead"
  segment        = "won_customers"
  sender         = "warehouse"
  mode           = "multiple"
  template       = "spring_offer"
  max_follow_ups = 4
  paused         = true

  recurrence {
    unit     = "week"
    every    = 2
    weekdays = ["mon", "thu"]
  }
}
