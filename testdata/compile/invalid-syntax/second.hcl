sender "s" {
  from = "news@acme.example"
