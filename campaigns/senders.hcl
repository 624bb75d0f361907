# Who mail comes from. Every from address is in acme.example, the organisation's
# domain (see policy "default"), except the founder's personal address, which
# therefore needs an organisation reply_to.

sender "newsletter" {
  from     = "Acme <news@acme.example>"
  reply_to = "hello@acme.example"
}

sender "shop" {
  from     = "Acme Shop <shop@acme.example>"
  reply_to = "orders@acme.example"
}

sender "customer_success" {
  from     = "Acme Customer Success <success@acme.example>"
  reply_to = "success@acme.example"
}

sender "support" {
  from = "Acme Support <support@acme.example>"
}

sender "events" {
  from     = "Acme Events <events@acme.example>"
  reply_to = "events@acme.example"
}

# Internal notifications to sales reps: the reply goes to the rep's team.
sender "sales_alerts" {
  from     = "Acme CRM <crm@acme.example>"
  reply_to = "sales@acme.example"
}

# Zoho's rule: a personal from needs an organisation reply_to, so answers to the
# founder's trial emails reach the sales team as well as her own mailbox.
sender "founder" {
  from     = "Dana Reyes <dana.reyes@fastmail.example>"
  reply_to = "sales@acme.example"
}
