model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "stage" { type = "string" }
  field "score" { type = "int" }
  field "owner" { type = "string" }
  field "seen" { type = "timestamp" }
}

segment "all" {
  model  = "lead"
  filter = "true"
}

sender "s" {
  from = "News <news@acme.example>"
}

template "t" {
  subject = "Hello"
  text    = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
}

# Each type's schema fixes its triggers, required fields and class.
workflow "typo" {
  type   = "abandoned_carts"
  model  = "lead"
  sender = "s"
  trigger {
    event = "cart_abandoned"
  }
  step "send" {
    send = "t"
  }
}

workflow "wrong_trigger" {
  type   = "topic"
  model  = "lead"
  sender = "s"
  class  = "transactional"
  trigger {
    event = "purchase"
  }
  step "send" {
    send = "t"
  }
}

workflow "no_goal" {
  type   = "abandoned_cart"
  model  = "lead"
  sender = "s"
  trigger {
    event = "cart_abandoned"
  }
  step "send" {
    send = "t"
  }
}

workflow "no_steps" {
  type  = "blog_welcome"
  model = "lead"
}

workflow "rep_mails_contact" {
  type   = "sales_rep_notification"
  model  = "lead"
  sender = "s"
  trigger {
    event = "conversion"
  }
  step "mail" {
    send = "t"
  }
}
