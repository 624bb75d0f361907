segment "hot" {
  model  = "lead"
  filter = "lead.score > 80 && lead.created_at > now - duration(\"720h\")"
}

# Segments are reusable by name: this one builds on "hot".
segment "hot_tagged" {
  model  = "lead"
  filter = "segment.hot && \"promo\" in lead.tags && lead.revenue >= 1000.0"
}

segment "everyone" {
  model            = "lead"
  include_archived = true
  filter           = "true"
}

segment "vips" {
  model  = "customer"
  filter = "customer.vip"
}
