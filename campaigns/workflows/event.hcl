# type event: registration for the open day. Every wait is timed from the
# event's date, not from registration: a reminder the day before, thanks the day
# after.
workflow "open_day" {
  type   = "event"
  model  = "lead"
  sender = "events"
  trigger {
    event  = "event_registration"
    filter = "event.name == \"Warehouse Open Day 2026\""
    property "name" { type = "string" }
    property "date" { type = "timestamp" }
  }

  step "confirm" {
    send = "open_day_confirmation"
  }
  step "day_before" {
    wait        = "-1d"
    relative_to = "event.date"
  }
  step "remind" {
    send = "open_day_reminder"
  }
  step "day_after" {
    wait        = "1d"
    relative_to = "event.date"
  }
  step "thank" {
    send = "open_day_thanks"
  }
}

template "open_day_confirmation" {
  subject = "You're registered for the Warehouse Open Day"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    See you at the Warehouse Open Day! Doors open at 9:00; parking is free.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "open_day_reminder" {
  subject = "Tomorrow: the Warehouse Open Day"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    A reminder: the Warehouse Open Day is tomorrow, from 9:00. Bring your floor
    plan if you would like advice on your layout.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "open_day_thanks" {
  subject = "Thanks for coming to the Open Day"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    Thanks for visiting! The slides and the layout checklist are on our site.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
