# The 3-week restock nurture. Week 1 tells the waitlist the items are back (with
# an A/B test on the subject); week 2 sends a different email depending on what
# the lead did with week 1; week 3 offers 20% off to every lead that has not
# converted yet. A lead who converts (the goal) gets nothing further.

# Recent leads we lost because we could not deliver: the people waiting for the
# restock. Active leads only (the model's default filter).
segment "restock_waitlist" {
  model  = "lead"
  filter = <<-CEL
    !lead.blacklisted
    && lead.lost_reason == "Not enough stock"
    && lead.created_at >= timestamp("2025-01-01T00:00:00Z")
  CEL
}

sequence "restock_nurture" {
  model   = "lead"
  segment = "restock_waitlist"
  sender  = "warehouse"
  # Converted: the lead became an opportunity we won.
  goal = "lead.stage == \"Won\""

  step "week1" {
    offset   = "0d"
    template = "restock_week1"
    # 20% of the waitlist gets one of two subjects; after 4 hours the subject
    # with the better open rate goes to the other 80%.
    ab_test {
      test_percent = 20
      metric       = "open_rate"
      decide_after = "4h"
      variant "urgent" {
        subject = "Limited items are back in stock! Act now!"
      }
      variant "personal" {
        subject = "{{ .lead.name | default \"Good news\" }}, the items you wanted are back"
      }
    }
  }

  # Week 2 splits on week 1: a nudge for those who ignored it, a reassurance for
  # those who clicked but have not bought.
  step "week2_ignored" {
    offset   = "7d"
    template = "restock_week2_ignored"
    when {
      step  = "week1"
      event = "ignored"
    }
  }
  step "week2_clicked" {
    offset   = "7d"
    template = "restock_week2_clicked"
    when {
      step  = "week1"
      event = "clicked"
    }
  }

  # Every lead still enrolled, i.e. not converted.
  step "week3" {
    offset   = "14d"
    template = "restock_week3"
  }
}

template "restock_week1" {
  subject = "Limited items are back in stock! Act now!"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    The items you were waiting for are back in stock, in limited quantities.
    Reply to this email and {{ .lead.owner | default "our team" }} will reserve yours.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "restock_week2_ignored" {
  subject = "Stock is running low, did you get yours?"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    Last week we told you the items you asked about were back. Half of the stock
    is gone already. Reply to this email to reserve yours before it runs out.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "restock_week2_clicked" {
  subject = "You still have time to get yours"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    Thanks for taking a look last week. The items are still available, and
    {{ .lead.owner | default "our team" }} can answer any question before you order.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "restock_week3" {
  subject = "20% off, last chance before they're gone!"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    The last of the restocked items are going fast. Until Sunday, take 20% off
    with the code RESTOCK20.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
