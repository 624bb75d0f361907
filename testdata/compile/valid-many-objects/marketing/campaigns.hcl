sender "sales" {
  from     = "\"Acme Sales\" <sales@acme.example>"
  reply_to = "Acme <reply@acme.example>"
}

template "promo" {
  subject = "{{ .lead.name | default \"Hi\" }}, $${deal} of the week"
  html    = file("templates/promo.html")
}

template "vip_note" {
  subject = "Thanks"
  text    = <<EOT
Dear customer,
{{- if .customer.vip }} you are a VIP.{{ end }}
Unsubscribe: {{ $.unsubscribe_url }}
EOT
}

campaign "promo_hot" {
  segment  = "hot_tagged"
  template = "promo"
  sender   = "sales"
  send_at  = "2026-06-01T10:00:00+02:00"
}

campaign "promo_all" {
  segment  = "everyone"
  template = "promo"
  sender   = "sales"
}

campaign "vip_thanks" {
  segment  = "vips"
  template = "vip_note"
  sender   = "sales"
}
