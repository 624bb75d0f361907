# Double opt-in mistakes: a marketing confirmation template without the link,
# missing attributes, confirm_* without double_opt_in, a bad duration.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name" { type = "string" }

  subscription "blog" {
    double_opt_in    = true
    confirm_template = "blog_confirm"
    confirm_sender   = "newz"
    confirm_within   = "soon"
  }
  subscription "offers" {
    confirm_template = "blog_confirm"
  }
}

sender "news" {
  from = "News <news@acme.example>"
}

template "blog_confirm" {
  subject = "Confirm your subscription"
  text    = "Hi {{ .lead.name }}, reply to confirm. {{ .unsubscribe_url }}"
}
