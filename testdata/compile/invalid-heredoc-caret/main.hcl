model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "stage"       { type = "string" }
  field "blacklisted" { type = "bool" }
  field "lost_reason" { type = "string" }
}

segment "lost" {
  model = "lead"
  filter = <<-CEL
        !lead.blacklisted
        && !(lead.stage in ["New", "Won"])
        && lead.lost_reasn == "Not enough stock"
  CEL
}

segment "tabs" {
  model = "lead"
	filter = <<-CEL
		!lead.blacklisted
		&& lead.stage == 3
	CEL
}

segment "escapes" {
  model  = "lead"
  filter = "lead.stage == \"a \\\"quoted\\\" word\" && lead.lost_reason == 1"
}
