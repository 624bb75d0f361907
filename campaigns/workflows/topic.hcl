# type topic: a lead downloads our inventory-planning guide; we follow up with
# more on the topic, and offer a demo to those who read it.
workflow "inventory_guide_followup" {
  type   = "topic"
  model  = "lead"
  sender = "newsletter"
  trigger {
    event = "content_download"
    topic = "inventory-planning"
  }
  # A lead who became an opportunity has a rep on it already.
  goal = "lead.stage in [\"Proposition\", \"Negotiation\", \"Won\"]"

  step "settle" {
    wait = "2h"
  }
  step "more_on_topic" {
    send = "inventory_checklist"
  }
  step "pause" {
    wait = "4d"
  }
  step "read_it" {
    engagement {
      step   = "more_on_topic"
      event  = "clicked"
      within = "4d"
    }
    then = "demo_offer"
    else = "done"
  }
  step "demo_offer" {
    send = "inventory_demo_offer"
  }
  step "done" {
    exit = true
  }
}

template "inventory_checklist" {
  subject = "Your inventory-planning checklist"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    Thanks for downloading our guide to inventory planning. Here is the
    one-page checklist our customers pin next to their desks.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "inventory_demo_offer" {
  subject = "See inventory planning in Acme, in 20 minutes"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    Would a 20-minute demo help? Reply with a time that suits you and
    {{ .lead.owner | default "one of our specialists" }} will show you around.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
