template "gold_offer" {
  subject = "A thank-you for our gold customers"
  text    = "Hello!\nUnsubscribe: {{ .unsubscribe_url }}\n"
}
