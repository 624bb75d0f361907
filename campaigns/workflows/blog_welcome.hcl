# type blog_welcome: a new blog subscriber gets a welcome, then our best posts.
workflow "blog_welcome" {
  type   = "blog_welcome"
  model  = "lead"
  sender = "newsletter"
  trigger {
    event = "blog_subscription"
  }

  step "welcome" {
    send = "blog_welcome"
  }
  step "pause" {
    wait = "7d"
  }
  step "best_of" {
    send = "blog_best_of"
  }
}

template "blog_welcome" {
  subject = "Welcome to the Acme blog"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    Thanks for subscribing! Every Thursday: one practical article on running a
    warehouse, no fluff.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}

template "blog_best_of" {
  subject = "Our five most-read articles"
  text    = <<-EOT
    Hello {{ .lead.name | default "there" }},

    While you wait for Thursday, here are the five articles readers liked most
    this year.

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
}
