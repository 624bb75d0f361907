# Every kind of workflow step, and the workflow attributes around them.
model "customer" {
  table          = "crm_customer"
  key            = "id"
  email          = "email"
  default_filter = "customer.active"
  field "name" { type = "string" }
  field "active" { type = "bool" }
  field "tier" { type = "string" }
  field "lifecycle_stage" { type = "string" }
  field "owner" {
    type     = "string"
    nullable = true
  }
  field "last_order_at" {
    type     = "timestamp"
    nullable = true
  }
}

segment "gold" {
  model  = "customer"
  filter = "customer.tier == \"gold\""
}

sender "shop" {
  from     = "Shop <shop@acme.example>"
  reply_to = "orders@acme.example"
}

policy "carts" {
  frequency_cap {
    max = 2
    per = "3d"
  }
}

template "reminder" {
  subject = "You left something behind"
  text    = "Hi {{ .customer.name }}. Unsubscribe: {{ .unsubscribe_url }}"
}

template "reminder_short" {
  subject = "Your cart"
  text    = "Still there. {{ .unsubscribe_url }}"
}

template "owner_alert" {
  class   = "internal"
  subject = "{{ .customer.name }} abandoned a cart"
  text    = "Owner: {{ .customer.owner }}"
}

workflow "cart" {
  type   = "abandoned_cart"
  model  = "customer"
  sender = "shop"
  policy = "carts"
  trigger {
    event   = "cart_abandoned"
    filter  = "double(event.value) > 10.0 && segment.gold"
    segment = "gold"
  }
  goal = "has(customer.last_order_at) && customer.last_order_at > timestamp(event.at)"
  reenroll {
    allowed = true
    after   = "30d"
  }

  step "pause" {
    wait = "1h"
  }
  step "remind" {
    send = "reminder"
    ab_test {
      test_percent = 50
      metric       = "click_rate"
      variant "long" {
        subject = "You left something behind, {{ .customer.name }}"
      }
      variant "short" {
        template = "reminder_short"
      }
    }
  }
  step "wait_reply" {
    wait = "2d"
  }
  step "clicked" {
    engagement {
      step   = "remind"
      event  = "clicked"
      within = "2d"
    }
    then = "vip_check"
    else = "no_owner"
  }
  step "vip_check" {
    if   = "customer.tier == \"gold\""
    then = "mark"
    else = "done"
  }
  step "mark" {
    set_property = "customer.lifecycle_stage"
    value        = "hot"
    next         = "alert"
  }
  step "no_owner" {
    clear_property = "customer.owner"
  }
  step "assign" {
    assign_owner = ["ann@acme.example", "bo@acme.example"]
    field        = "customer.owner"
  }
  step "alert" {
    notify_owner = "owner_alert"
  }
  step "done" {
    exit = true
  }
}
