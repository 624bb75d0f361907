# The CRM's leads, as Odoo keeps them in crm_lead. Segments over this model see
# active leads only unless they set include_archived = true.
model "lead" {
  table          = "crm_lead"
  key            = "id"
  email          = "email_from"
  default_filter = "lead.active"
  # Quiet hours are in each lead's own time zone.
  time_zone = "time_zone"

  field "name" { type = "string" }
  field "stage" { type = "string" }
  field "lost_reason" { type = "string" }
  field "active" { type = "bool" }
  field "blacklisted" { type = "bool" }
  field "created_at" { type = "timestamp" }
  field "owner" { type = "string" }
  field "time_zone" { type = "string" }
  field "customer_tier" { type = "string" }
  field "expected_revenue" { type = "float" }
}

sender "warehouse" {
  from     = "Acme Warehouse <news@acme.example>"
  reply_to = "sales@acme.example"
}

# The shop's customers, as the e-commerce side of the CRM keeps them in
# crm_customer. Segments see active customers only unless include_archived.
model "customer" {
  table          = "crm_customer"
  key            = "id"
  email          = "email"
  default_filter = "customer.active"
  time_zone      = "time_zone"

  field "name" { type = "string" }
  field "active" { type = "bool" }
  field "blacklisted" { type = "bool" }
  field "do_not_email" { type = "bool" }
  field "time_zone" { type = "string" }
  # lead, trial, customer, advocate: where the customer is in their life with us.
  field "lifecycle_stage" { type = "string" }
  # trial, basic or pro: the subscription plan.
  field "plan" { type = "string" }
  field "registered_at" { type = "timestamp" }
  field "trial_started_at" {
    type     = "timestamp"
    nullable = true
  }
  field "birthday" {
    type     = "timestamp"
    nullable = true
  }
  field "last_order_at" {
    type     = "timestamp"
    nullable = true
  }
  field "last_seen_at" {
    type     = "timestamp"
    nullable = true
  }
  # When the customer is expected to buy again, from their purchase cycle.
  field "next_purchase_at" {
    type     = "timestamp"
    nullable = true
  }
  # bronze, silver or gold, from lifetime_value.
  field "value_tier" { type = "string" }
  field "lifetime_value" { type = "float" }
  field "orders" { type = "int" }
  # Logins over the last 7 days: the product-usage signal of customer success.
  field "weekly_logins" { type = "int" }
  field "owner" {
    type     = "string"
    nullable = true
  }
}
