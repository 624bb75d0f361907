# The smallest useful tree: one of each object. The segment does not set
# include_archived, so the model's default filter is folded into its filter.
model "contact" {
  table          = "contacts"
  key            = "id"
  email          = "email"
  default_filter = "contact.subscribed"
  field "subscribed" { type = "bool" }
  field "country"    { type = "string" }
}

segment "french" {
  model  = "contact"
  filter = "contact.country == \"FR\""
}

sender "news" {
  from = "news@example.com"
}

template "hello" {
  subject = "Bonjour"
  text    = "Bonjour !\nUnsubscribe: {{ .unsubscribe_url }}\n"
}

campaign "hello_france" {
  segment  = "french"
  template = "hello"
  sender   = "news"
}
