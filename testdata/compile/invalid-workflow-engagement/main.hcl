# An engagement predicate in a workflow condition is refused: the daemon
# evaluates workflow conditions per contact, without the events table. A
# segment with that filter, tested as segment.<name>, is the way.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
}

segment "clickers" {
  model  = "lead"
  filter = "lead.clicked(days(30))"
}

sender "s" {
  from = "News <news@acme.example>"
}

template "t" {
  subject = "Hello"
  text    = "Hi {{ .lead.name }}. {{ .unsubscribe_url }}"
}

workflow "welcome" {
  type   = "blog_welcome"
  model  = "lead"
  sender = "s"
  trigger {
    event = "blog_subscription"
  }
  goal = "lead.opened(days(7))"
  step "hello" {
    send = "t"
  }
  step "pause" {
    wait = "1d"
  }
  step "engaged" {
    if   = "segment.clickers || lead.clicked(days(1))"
    then = "done"
  }
  step "again" {
    send = "t"
  }
  step "done" {
    exit = true
  }
}
