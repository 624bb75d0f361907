# An A/B metric the daemon cannot measure: conversions where there is no
# goal. A warning: the test runs and is decided by its inconclusive policy.
# Revenue (purchase events' value) and conversions under a goal are fine.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name"      { type = "string" }
  field "converted" { type = "bool" }
}

segment "all" {
  model  = "lead"
  filter = "true"
}

sender "s" {
  from = "News <news@acme.example>"
}

template "a" {
  subject = "Hello"
  text    = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
}

template "b" {
  subject = "Hello again"
  text    = "Hi {{ .lead.name }}! {{ .unsubscribe_url }}"
}

campaign "spring" {
  segment  = "all"
  template = "a"
  sender   = "s"
  ab_test {
    test_percent = 20
    metric       = "conversions"
    variant "first" {
      template = "a"
    }
    variant "second" {
      template = "b"
    }
  }
}

sequence "nurture" {
  model   = "lead"
  segment = "all"
  sender  = "s"
  goal    = "lead.converted"
  step "one" {
    offset   = "0s"
    template = "a"
    ab_test {
      test_percent = 20
      metric       = "revenue"
      variant "first" {
        template = "a"
      }
      variant "second" {
        template = "b"
      }
    }
  }
  step "two" {
    offset   = "2d"
    template = "a"
    ab_test {
      test_percent = 20
      metric       = "conversions"
      variant "first" {
        template = "a"
      }
      variant "second" {
        template = "b"
      }
    }
  }
}
