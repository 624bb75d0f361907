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

workflow "graph" {
  type   = "lead_nurturing"
  model  = "lead"
  sender = "s"
  trigger {
    event = "conversion"
    topic = "ebook"
  }
  step "first" {
    send = "t"
  }
  step "pause" {
    wait = "1d"
  }
  step "opened" {
    engagement {
      step  = "pause"
      event = "opened"
    }
    then = "secnd"
    else = "later_send_check"
  }
  step "later_send_check" {
    engagement {
      step  = "second"
      event = "clicked"
    }
    then = "second"
  }
  step "second" {
    send = "t"
    next = "loop_back"
  }
  step "loop_back" {
    wait = "2d"
    next = "pause"
  }
  step "done" {
    exit = true
    next = "first"
  }
}

workflow "orphans" {
  type   = "lead_nurturing"
  model  = "lead"
  sender = "s"
  trigger {
    event = "conversion"
    topic = "webinar"
  }
  step "hello" {
    send = "t"
  }
  step "too_early" {
    engagement {
      step  = "follow_up"
      event = "replied"
    }
    then = "end"
  }
  step "follow_up" {
    send = "t"
    next = "end"
  }
  step "never" {
    send = "t"
  }
  step "end" {
    exit = true
  }
}
