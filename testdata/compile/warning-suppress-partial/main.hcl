# suppress names the suppression sources a policy honours, but the runner
# honours all four whatever the list says: a list that leaves one out reads
# as if hard bounces (here) would still be mailed, and they are not.
model "contact" {
  table = "contacts"
  key   = "id"
  email = "email"
  field "country" { type = "string" }
}

segment "french" {
  model  = "contact"
  filter = "contact.country == \"FR\""
}

sender "news" {
  from = "news@example.com"
}

policy "default" {
  suppress = ["unsubscribed", "blacklisted", "complaint"]
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
