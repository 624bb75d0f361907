# Conversions with literal arguments are evaluated by the compiler: a date it
# cannot read, or a time zone that does not exist, would otherwise fail on
# every contact at send time.
model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email_from"
  field "id" { type = "int" }
  field "created_at" { type = "timestamp" }
}

segment "not_a_date" {
  model  = "lead"
  filter = "lead.created_at >= timestamp(\"01/02/2024\")"
}

segment "misspelled_zone" {
  model  = "lead"
  filter = "lead.created_at >= timestamp(\"2024-01-01T09:00:00\", \"Europe/Bruxelles\")"
}

segment "offset_and_zone" {
  model  = "lead"
  filter = "lead.created_at >= timestamp(\"2024-01-01T09:00:00+01:00\", \"Europe/Brussels\")"
}

segment "bad_duration" {
  model  = "lead"
  filter = "lead.created_at >= now - duration(\"1 day\")"
}

# Valid: a wall-clock time in the company's zone, and the standard forms.
segment "brussels_new_year" {
  model  = "lead"
  filter = "lead.created_at >= timestamp(\"2024-01-01T00:00:01\", \"Europe/Brussels\") && lead.created_at < timestamp(\"2025-01-01T00:00:00Z\") && lead.created_at > now - duration(\"720h\")"
}
