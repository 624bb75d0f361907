# A policy applies only to the objects that name it, and "default" to those
# that name none. "defualt" (a typo) and "strict" (named by nothing) apply to
# nothing: each is a warning. "archive" sets only event_retention, which counts
# for every policy (the longest applies): not reported. "weekly" is named by
# its campaign.
model "contact" {
  table = "contacts"
  key   = "id"
  email = "email"
  field "country" { type = "string" }
}

segment "french" {
  model  = "contact"
  filter = "contact.country == \"FR\""
}

sender "news" {
  from = "news@example.com"
}

template "hello" {
  subject = "Bonjour"
  text    = "Bonjour !\nUnsubscribe: {{ .unsubscribe_url }}\n"
}

policy "defualt" {
  quiet_hours {
    start = "21:00"
    end   = "08:00"
  }
}

policy "strict" {
  frequency_cap {
    max = 2
    per = "7d"
  }
  daily_quota     = 1000
  event_retention = "400d"
}

policy "archive" {
  event_retention = "730d"
}

policy "weekly" {
  rate_per_minute = 100
}

campaign "hello_france" {
  segment  = "french"
  template = "hello"
  sender   = "news"
  policy   = "weekly"
}
