package main

deny[msg] {
  input.kind == "Deployment"
  not input.metadata.labels.team
  msg := sprintf("Deployment %s has no team label", [input.metadata.name])
}
