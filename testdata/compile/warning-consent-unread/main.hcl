# A consent condition is read only for marketing mail sent under an opt_in
# policy. "lead" gets marketing mail under opt_out policies only (the default
# regime), so its condition is never read: a warning. "member" gets some of its
# marketing mail under policy "strict" (opt_in): its condition is read, no
# warning. "staff" has a condition and gets no marketing mail: not reported.
model "lead" {
  table   = "crm_lead"
  key     = "id"
  email   = "email"
  consent = "lead.opted_in"
  field "opted_in" { type = "bool" }
}

model "member" {
  table   = "members"
  key     = "id"
  email   = "email"
  consent = "member.opted_in"
  field "opted_in" { type = "bool" }
}

model "staff" {
  table   = "staff"
  key     = "id"
  email   = "email"
  consent = "staff.opted_in"
  field "opted_in" { type = "bool" }
}

segment "leads" {
  model  = "lead"
  filter = "true"
}

segment "members" {
  model  = "member"
  filter = "true"
}

sender "news" {
  from = "news@example.com"
}

template "news" {
  subject = "News"
  text    = "News.\nUnsubscribe: {{ .unsubscribe_url }}\n"
}

policy "default" {
  quiet_hours {
    start = "21:00"
    end   = "08:00"
  }
}

policy "strict" {
  consent = "opt_in"
}

campaign "lead_news" {
  segment  = "leads"
  template = "news"
  sender   = "news"
}

campaign "member_news" {
  segment  = "members"
  template = "news"
  sender   = "news"
}

campaign "member_news_strict" {
  segment  = "members"
  template = "news"
  sender   = "news"
  policy   = "strict"
}
