# type abandoned_cart: a customer leaves items in their cart. A reminder after an
# hour, a small discount the next day; a purchase ends it (the goal).
workflow "cart_rescue" {
  type   = "abandoned_cart"
  model  = "customer"
  sender = "shop"
  trigger {
    event = "cart_abandoned"
    # Small carts are not worth a discount.
    filter = "event.value >= 20.0"
    property "value" { type = "float" }
  }
  # Exit on purchase: an order placed after the cart was abandoned.
  goal = "has(customer.last_order_at) && customer.last_order_at > event.at"

  step "pause" {
    wait = "1h"
  }
  step "reminder" {
    send = "cart_reminder"
  }
  step "pause_2" {
    wait = "1d"
  }
  step "discount" {
    send = "cart_discount"
    # Which subject brings more buyers back?
    ab_test {
      test_percent = 30
      metric       = "conversions"
      decide_after = "2d"
      inconclusive = "send_all"
      variant "percent" {
        subject = "10% off what you left in your cart"
      }
      variant "free_delivery" {
        subject = "Free delivery on what you left in your cart"
      }
    }
  }
}

template "cart_reminder" {
  subject = "You left something in your cart"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Your cart is saved: pick up where you left off whenever you like.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "cart_discount" {
  subject = "10% off what you left in your cart"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Still thinking it over? Use the code CART10 in the next 48 hours.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
