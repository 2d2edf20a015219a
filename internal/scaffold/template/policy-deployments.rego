# Example policies, evaluated by `ferry validate` (and by conftest) on every
# rendered object: deny and violation rules fail the check, warn rules are
# reported. Edit or add .rego files in this directory.
package main

import rego.v1

deny contains msg if {
	input.kind == "Deployment"
	some c in input.spec.template.spec.containers
	not c.resources.requests.memory
	msg := sprintf("Deployment %s: container %s has no memory request", [input.metadata.name, c.name])
}

warn contains msg if {
	input.kind in {"Deployment", "StatefulSet", "DaemonSet"}
	not input.metadata.labels["app.kubernetes.io/name"]
	not input.metadata.labels.app
	msg := sprintf("%s %s has no app label", [input.kind, input.metadata.name])
}
