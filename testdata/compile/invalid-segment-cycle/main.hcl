model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "score" { type = "int" }
}

model "customer" {
  table = "res_partner"
  key   = "id"
  email = "email"
  field "vip" { type = "bool" }
}

segment "a" {
  model  = "lead"
  filter = "segment.b || lead.score > 10"
}

segment "b" {
  model  = "lead"
  filter = "segment.c"
}

segment "c" {
  model  = "lead"
  filter = "segment.a && lead.score < 100"
}

segment "selfish" {
  model  = "lead"
  filter = "segment.selfish"
}

segment "vips" {
  model  = "customer"
  filter = "customer.vip"
}

segment "wrong_model" {
  model  = "lead"
  filter = "segment.vips"
}

model "other" {
  table          = "other"
  key            = "id"
  email          = "email"
  default_filter = "segment.vips"
}
