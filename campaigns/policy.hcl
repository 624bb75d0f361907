# The sending rules every campaign, workflow, sequence and autoresponder follows
# unless it names another policy.
policy "default" {
  # Per sender per day, well under what the relay allows, so one runaway
  # workflow cannot burn the day's reputation.
  daily_quota     = 5000
  rate_per_minute = 300

  # No marketing mail at night in the contact's own time zone.
  quiet_hours {
    start = "21:00"
    end   = "08:00"
  }

  # At most three marketing emails per contact per week, across everything.
  frequency_cap {
    max = 3
    per = "7d"
  }

  suppress = ["unsubscribed", "blacklisted", "hard_bounce", "complaint"]

  # Order confirmations and support answers are service mail: they go out at
  # night and past the cap, and to people who unsubscribed from marketing.
  # Internal mail to our own reps skips the contact-facing limits.
  bypass {
    transactional = ["quiet_hours", "frequency_cap", "unsubscribed"]
    internal      = ["quiet_hours", "frequency_cap", "daily_quota"]
  }

  # Zoho's rule: a personal from address needs a reply-to of the organisation.
  require_org_reply_to = true
  org_domains          = ["acme.example"]

  # A plan diff warns when a change grows a segment by more than half.
  audience_growth_warn_percent = 50
}
