# type lead_nurturing: a lead who downloads our ebook gets a short series; if
# they click the case study, their rep hears about it.
workflow "ebook_nurture" {
  type   = "lead_nurturing"
  model  = "lead"
  sender = "newsletter"
  trigger {
    event = "conversion"
    topic = "ebook"
  }
  goal = "lead.stage in [\"Proposition\", \"Negotiation\", \"Won\"]"

  step "deliver" {
    send = "ebook_delivery"
  }
  step "wait_3d" {
    wait = "3d"
  }
  step "case_study" {
    send = "ebook_case_study"
  }
  step "wait_4d" {
    wait = "4d"
  }
  step "interested" {
    engagement {
      step  = "case_study"
      event = "clicked"
    }
    then = "qualify"
    else = "done"
  }
  step "qualify" {
    set_property = "lead.stage"
    value        = "Qualified"
  }
  step "tell_owner" {
    notify_owner = "hot_lead_alert"
  }
  step "done" {
    exit = true
  }
}

template "ebook_delivery" {
  subject = "Your ebook: The Lean Warehouse"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    Here is your copy of The Lean Warehouse. Chapter 3, on slotting, is the one
    readers tell us they reread.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "ebook_case_study" {
  subject = "How Nordhaus cut picking time by 30%"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    Nordhaus applied chapter 3 of the ebook and cut picking time by 30% in two
    months. Their story, with numbers.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "hot_lead_alert" {
  class   = "internal"
  subject = "Hot lead: {{ .lead.name }} read the case study"
  text    = <<-EOT
    {{ .lead.name }} downloaded the ebook and clicked the Nordhaus case study.
    Expected revenue: {{ .lead.expected_revenue }}. They are now Qualified.
  EOT
}
