# A second segment named "won", in another file.
segment "won" {
  model  = "lead"
  filter = "lead.stage == \"Won again\""
}

# Different kinds may share a name.
sender "won" {
  from = "won@acme.example"
}
