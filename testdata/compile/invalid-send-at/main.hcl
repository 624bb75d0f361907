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

template "t" {
  subject = "Hi"
  text    = "{{ .unsubscribe_url }}"
}

campaign "no_zone" {
  segment  = "all"
  template = "t"
  sender   = "s"
  send_at  = "2026-12-01 09:00:00"
}

campaign "date_only" {
  segment  = "all"
  template = "t"
  sender   = "s"
  send_at  = "2026-12-01"
}

campaign "ok" {
  segment  = "all"
  template = "t"
  sender   = "s"
  send_at  = "2026-12-01T09:00:00+01:00"
}
