sender "s" {
  from = "not an address"
}

template "t" {
  subject = "Hi {{ .lead.name }"
  text    = "{{ .unsubscribe_url }}"
}

campaign "c" {
  segment  = "wonn"
  template = "t"
  sender   = "s"
  send_at  = "tomorrow"
}
