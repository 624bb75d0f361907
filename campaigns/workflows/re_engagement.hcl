# type re_engagement: leads with no visit, click or form submit for 90 days get
# a last "still interested?"; those who ignore it are archived.
workflow "quiet_leads" {
  type   = "re_engagement"
  model  = "lead"
  sender = "newsletter"
  trigger {
    event        = "inactivity"
    inactive_for = "90d"
  }

  step "still_interested" {
    send = "still_interested"
  }
  step "pause" {
    wait = "14d"
  }
  step "answered" {
    engagement {
      step  = "still_interested"
      event = "ignored"
    }
    then = "archive"
    else = "done"
  }
  step "archive" {
    set_property = "lead.active"
    value        = false
  }
  step "done" {
    exit = true
  }
}

template "still_interested" {
  subject = "Still interested?"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    We have not heard from you in a while. If warehouse equipment is still on
    your list, reply and we will pick up where we left off. If not, no hard
    feelings: we will stop writing.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
