# type engaged_contacts: a lead with 5 or more visits, clicks or form submits in
# two weeks is marked qualified and gets an invitation to talk.
workflow "engaged_leads" {
  type   = "engaged_contacts"
  model  = "lead"
  sender = "newsletter"
  trigger {
    event     = "engagement_threshold"
    threshold = 5
    window    = "14d"
  }

  step "mark_qualified" {
    set_property = "lead.stage"
    value        = "Qualified"
  }
  step "invite" {
    send = "engaged_invitation"
  }
}

template "engaged_invitation" {
  subject = "Can we help with your project?"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    You have been reading a lot about warehouse planning lately. If you are
    working on a project, {{ .lead.owner | default "our team" }} would be glad to help,
    free of charge: just reply.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
