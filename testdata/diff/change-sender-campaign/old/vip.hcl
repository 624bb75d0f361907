template "back_in_stock_v2" {
  subject = "Back in stock, {{ .lead.name | default \"friend\" }}!"
  html    = file("templates/back_in_stock.html")
}
