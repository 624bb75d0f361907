model "lead" {
  tabel = "crm_lead"
  key   = "id"
  email = "email"
  feild "name" { type = "string" }
}

segmnt "s" {
  model = "lead"
}

template "t" {
  subject = "Hi"
  text    = "{{ .unsubscribe_url }}"
  include_archived = true
}

sender "s" {
  from = 42
}

campaign "c" {
  segment  = file("x")
  template = "t"
  sender   = "s"
}

segment "t" {
  model            = "lead"
  filter           = "true"
  include_archived = "yes"
}

# CEL written without quotes.
segment "unquoted" {
  model  = "lead"
  filter = lead.active && lead.name == "x"
}

segment "unquoted_ref" {
  model  = lead
  filter = "true"
}
