# Engagement segments: what leads did on the site and with our mail, from the
# runner's events table (campaignctl events import, later /v1/events).

# Leads reading about makeup this fortnight who have not clicked any of our mail
# for a month: they are interested, but our mailings are not what they read.
segment "makeup_browsers" {
  model  = "lead"
  filter = <<-CEL
    !lead.blacklisted
    && lead.event_count("page_view", "makeup", days(14)) >= 3
    && !lead.clicked(days(30))
  CEL
}

# The re-engagement audience: no page view, click or form submission for 90 days.
# No campaign sends to it: `campaignctl audience dormant_leads` previews who the
# re_engagement workflow (trigger inactive_for = "90d") would reach.
segment "dormant_leads" {
  model  = "lead"
  filter = "!lead.blacklisted && lead.inactive_for(days(90))"
}

template "makeup_new_arrivals" {
  subject = "New in makeup, picked for you"
  html    = file("templates/makeup_new_arrivals.html")
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    You have been looking at our makeup range lately. Twelve new shades arrived
    this week, and the first order of any of them ships free until Sunday.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

campaign "makeup_new_arrivals" {
  segment  = "makeup_browsers"
  template = "makeup_new_arrivals"
  sender   = "warehouse"
  # No send_at: sent when applied.
}
