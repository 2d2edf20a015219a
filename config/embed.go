// Package config holds Ferry's install manifests as a kustomize base, for
// the binary: install/ (the controller, its RBAC, Service,
// PodDisruptionBudget and NetworkPolicy) includes crd/ (the
// CustomResourceDefinitions, also served by package crd). `ferry install`
// renders them in process (internal/install); kustomize users point an
// overlay at config/install.
package config

import (
	"embed"
	"io/fs"
)

//go:embed install/*.yaml crd/kustomization.yaml crd/bases/*.yaml
var files embed.FS

// Files returns install/ and crd/ with the paths they have here, so that
// install/kustomization.yaml's ../crd resolves inside it.
func Files() fs.FS { return files }
