model "lead" {
  field "name" {}
}

segment "s" {}

sender "x" {}

template "t" {}

campaign "c" {}
