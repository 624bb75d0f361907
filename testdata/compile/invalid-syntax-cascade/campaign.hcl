model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email_from"
  field "id" { type = "int" }
  field "name" { type = "string" }
}

segment "everyone" {
  model  = "lead"
  filter = "true"
}

sender "news" {
  from = "Acme <news@acme.example>"
}

campaign "hello" {
  segment  = "everyone"
  template = "hello"
  sender   = "news"
}
