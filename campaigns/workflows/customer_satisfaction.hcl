# type customer_satisfaction: a customer answers the NPS survey. Promoters (9-10)
# are asked for a review; detractors (0-6) get an apology and their owner is
# told; passives get nothing more.
workflow "nps_followup" {
  type   = "customer_satisfaction"
  model  = "customer"
  sender = "customer_success"
  trigger {
    event = "nps_response"
    property "score" { type = "int" }
  }

  step "promoter" {
    if   = "event.score >= 9"
    then = "ask_review"
    else = "detractor"
  }
  step "ask_review" {
    send = "nps_ask_review"
    next = "done"
  }
  step "detractor" {
    if   = "event.score <= 6"
    then = "apologize"
    else = "done"
  }
  step "apologize" {
    send = "nps_apology"
  }
  step "tell_owner" {
    notify_owner = "nps_detractor_alert"
  }
  step "done" {
    exit = true
  }
}

template "nps_ask_review" {
  subject = "Thank you! Would you tell others?"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Thank you for the great score! A two-line review helps other shops find us.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "nps_apology" {
  subject = "We're sorry: how can we fix it?"
  text    = <<-EOT
    Hello {{ .customer.name | default "there" }},

    Thank you for your honest score. We want to do better: reply and tell us
    what went wrong; {{ .customer.owner | default "your account manager" }} reads every answer.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "nps_detractor_alert" {
  class   = "internal"
  subject = "Detractor: {{ .customer.name }}"
  text    = <<-EOT
    {{ .customer.name }} ({{ .customer.value_tier }} tier) gave a low NPS score and
    has been sent an apology. Please call them this week.
  EOT
}
