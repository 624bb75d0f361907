model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name"  { type = "string" }
  field "stage" { type = "string" }
  field "score" { type = "int" }
  field "owner" { type = "string" }
  field "seen"  { type = "timestamp" }
}

segment "all" {
  model  = "lead"
  filter = "true"
}

sender "s" {
  from = "News <news@acme.example>"
}

template "t" {
  subject = "Hello"
  text    = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
}

campaign "zero" {
  segment  = "all"
  template = "t"
  sender   = "s"
  ab_test {
    test_percent = 0
    metric       = "open_rates"
    variant "only" {
      subject = "Hello {{ .lead.nme }}"
    }
  }
}

campaign "bad_variants" {
  segment  = "all"
  template = "t"
  sender   = "s"
  ab_test {
    test_percent = 100
    metric       = "click_rate"
    variant "a" {
      template = "tt"
    }
    variant "b" {
      subject = "{{ if }}"
    }
    variant "a" {
      subject = "again"
    }
  }
}
