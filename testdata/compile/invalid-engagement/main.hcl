model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "active" { type = "bool" }
  field "topic"  { type = "string" }
}

segment "window_not_literal" {
  model  = "lead"
  filter = "lead.clicked(days(10 + 20))"
}

segment "zero_window" {
  model  = "lead"
  filter = "lead.opened(duration(\"0s\"))"
}

segment "bad_type" {
  model  = "lead"
  filter = "lead.event_count(\"Page View\", days(14)) >= 3"
}

segment "field_as_topic" {
  model  = "lead"
  filter = "lead.event_count(\"page_view\", lead.topic, days(14)) >= 3"
}

segment "empty_campaign" {
  model  = "lead"
  filter = "lead.active && lead.clicked(\"\", \"week1\")"
}

segment "wrong_arity" {
  model  = "lead"
  filter = "lead.inactive_for(90)"
}
