# A state trigger stores no event: in the goal and if conditions, event holds
# only type, at and key. event.topic or event.value would fail for every
# contact at run time (a goal never reached, a branch always taking else),
# so the compiler refuses them; event.at and the contact's fields are fine.
model "customer" {
  table = "crm_customer"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
  field "score" { type = "int" }
  field "last_visit_at" {
    type     = "timestamp"
    nullable = true
  }
}

sender "shop" {
  from = "shop@acme.example"
}

template "miss_you" {
  subject = "We miss you"
  text    = "Hi {{ .customer.name }}. Unsubscribe: {{ .unsubscribe_url }}"
}

workflow "wake" {
  type   = "re_engagement"
  model  = "customer"
  sender = "shop"
  trigger {
    event        = "inactivity"
    inactive_for = "60d"
  }
  goal = "event.topic == \"pricing\" || (has(customer.last_visit_at) && customer.last_visit_at > event.at)"

  step "remind" {
    send = "miss_you"
  }
  step "scored" {
    if   = "event.value > 3.0 && event.type == \"inactivity\""
    then = "done"
  }
  step "scored_again" {
    if   = "customer.score > 3 && event.key != \"\""
    then = "done"
  }
  step "done" {
    exit = true
  }
}
