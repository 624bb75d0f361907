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

template "unclosed" {
  subject = "Hello {{ .lead.name"
  text    = "Unsubscribe: {{ .unsubscribe_url }}"
}

template "unknown_func" {
  subject = "Hello"
  text    = <<-EOT
    Hello {{ .lead.name | defualt "there" }},
    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "bad_html" {
  subject = "Hello"
  html    = file("templates/bad.html")
}

template "unknown_field" {
  subject = "Hello {{ .lead.nmae }}"
  html    = "<a href=\"{{ .unsubscribe_url }}\">Unsubscribe</a>"
}

template "two_lines" {
  subject = "Hello\nthere"
  text    = "Unsubscribe: {{ .unsubscribe_url }}"
}

template "no_body" {
  subject = "Hello"
}

campaign "uses_unknown_field" {
  segment  = "all"
  template = "unknown_field"
  sender   = "s"
}
