template "outside" {
  subject = "Hi"
  html    = file("../../../go.mod")
}

template "absolute" {
  subject = "Hi"
  html    = file("/etc/passwd")
}

template "missing" {
  subject = "Hi"
  html    = file("templates/missing.html")
}

template "inside" {
  subject = "Hi"
  html    = file("templates/../templates/ok.html")
}
