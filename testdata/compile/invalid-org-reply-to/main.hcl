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

# Zoho's rule: under require_org_reply_to, a personal from needs an
# organisation reply_to.
policy "default" {
  require_org_reply_to = true
  org_domains          = ["acme.example"]
}

policy "lax" {
  require_org_reply_to = false
}

sender "personal" {
  from = "Jo <jo@gmail.example>"
}

sender "personal_both" {
  from     = "Jo <jo@gmail.example>"
  reply_to = "jo.private@gmail.example"
}

sender "personal_org_reply" {
  from     = "Jo <jo@gmail.example>"
  reply_to = "sales@mail.acme.example"
}

sender "personal_lax" {
  from = "Jo <jo@gmail.example>"
}

campaign "a" {
  segment  = "all"
  template = "t"
  sender   = "personal"
}

campaign "b" {
  segment  = "all"
  template = "t"
  sender   = "personal_both"
}

campaign "c" {
  segment  = "all"
  template = "t"
  sender   = "personal_org_reply"
}

campaign "d" {
  segment  = "all"
  template = "t"
  sender   = "personal_lax"
  policy   = "lax"
}

campaign "e" {
  segment  = "all"
  template = "t"
  sender   = "s"
  policy   = "laxx"
}
