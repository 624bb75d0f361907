model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
}

segment "all" {
  model  = "lead"
  filter = "true"
}

sender "s" {
  from = "s@acme.example"
}

# The text body links to the unsubscribe page, but the html body, which is what
# most people see, does not.
template "promo" {
  subject = "News"
  html    = <<-HTML
    <p>Hello {{ .lead.name }}</p>
  HTML
  text    = "Unsubscribe: {{ .unsubscribe_url }}"
}

template "text_only" {
  subject = "News"
  text    = "Hello {{ .lead.name }}"
}

# Only templates that go out as marketing mail are checked: text_only is sent
# by the campaign's A/B test.
campaign "promo" {
  segment  = "all"
  template = "promo"
  sender   = "s"
  ab_test {
    test_percent = 10
    metric       = "open_rate"
    variant "a" { subject = "News" }
    variant "b" { template = "text_only" }
  }
}
