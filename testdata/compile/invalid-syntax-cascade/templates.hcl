# One missing quote (the subject's opening one): one error, not a cascade of
# unterminated strings on every later line, nor "unknown template" for the
# campaign in campaign.hcl, whose template this file does declare.
template "hello" {
  subject = Hello there"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},
    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "bye" {
  subject = "Goodbye"
  text    = "Bye. Unsubscribe: {{ .unsubscribe_url }}"
}
