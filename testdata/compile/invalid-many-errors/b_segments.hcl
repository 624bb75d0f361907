segment "won" {
  model  = "lead"
  filter = "lead.stage == \"Won\" && lead.active"
}

segment "high" {
  model  = "lead"
  filter = "lead.score > \"80\""
}

segment "broken" {
  model  = "lead"
  filter = "lead.stage == "
}
