sender "no_at" {
  from = "Acme News"
}

sender "two" {
  from     = "a@acme.example, b@acme.example"
  reply_to = "<broken"
}

sender "ok" {
  from     = "Acme <news@acme.example>"
  reply_to = "sales@acme.example"
}
