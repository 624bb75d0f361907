# Two models, columns mapped to other names, a nullable field, every field type.
model "lead" {
  table          = "crm.lead"
  key            = "lead_id"
  email          = "email_from"
  default_filter = <<-CEL
    lead.active // archived leads are out unless a segment asks for them
  CEL
  field "name"    { type = "string" }
  field "stage"   {
    type   = "string"
    column = "stage_name"
  }
  field "score"   { type = "int" }
  field "revenue" {
    type     = "float"
    nullable = true
  }
  field "active"      { type = "bool" }
  field "created_at"  { type = "timestamp" }
  field "tags"        { type = "list(string)" }
}

model "customer" {
  table = "res_partner"
  key   = "id"
  email = "email"
  field "vip" { type = "bool" }
}
