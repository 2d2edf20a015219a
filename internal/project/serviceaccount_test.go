package project

import (
	"strings"
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestServiceAccountFor(t *testing.T) {
	const prod = "https://prod.example.com"
	sa := func(server, namespace, value string) v1alpha1.ApplicationDestinationServiceAccount {
		return v1alpha1.ApplicationDestinationServiceAccount{Server: server, Namespace: namespace, DefaultServiceAccount: value}
	}
	entries := []v1alpha1.ApplicationDestinationServiceAccount{
		sa(prod, "team-a", "deployer"),
		sa(prod, "team-*", "ops:team-deployer"),
		sa("*", "*", "default-sa"),
	}
	tests := []struct {
		name      string
		entries   []v1alpha1.ApplicationDestinationServiceAccount
		server    string
		namespace string
		wantNS    string
		wantName  string
		wantOK    bool
		wantErr   string // exact message, or the start of it when it ends in ": "
	}{
		{"first match wins", entries, prod, "team-a", "team-a", "deployer", true, ""},
		{"qualified name", entries, prod, "team-b", "ops", "team-deployer", true, ""},
		{"catch-all, destination namespace", entries, "https://dev.example.com", "web", "web", "default-sa", true, ""},
		{"no entries", nil, prod, "team-a", "", "", false, ""},
		{"no match", entries[:2], "https://dev.example.com", "team-a", "", "", false, ""},
		{"namespace glob no match", entries[1:2], prod, "ops", "", "", false, ""},
		{"server glob crosses slashes", []v1alpha1.ApplicationDestinationServiceAccount{sa("https://*", "*", "x")}, "https://a/b", "ns", "ns", "x", true, ""},
		{"empty namespace pattern matches cluster scope only", []v1alpha1.ApplicationDestinationServiceAccount{sa(prod, "", "ops:x")}, prod, "", "ops", "x", true, ""},
		{"empty namespace pattern, a namespace", []v1alpha1.ApplicationDestinationServiceAccount{sa(prod, "", "ops:x")}, prod, "web", "", "", false, ""},
		{"malformed entry after the match is not read", []v1alpha1.ApplicationDestinationServiceAccount{sa(prod, "*", "x"), sa("*", "*", "")}, prod, "web", "web", "x", true, ""},
		{"malformed entry that does not match is skipped", []v1alpha1.ApplicationDestinationServiceAccount{sa("https://dev", "*", ""), sa("*", "*", "x")}, prod, "web", "web", "x", true, ""},

		{"empty value", []v1alpha1.ApplicationDestinationServiceAccount{sa("*", "*", "")}, prod, "web", "", "", false,
			`project "team-a": destinationServiceAccounts[0]: defaultServiceAccount "": empty`},
		{"blank value", []v1alpha1.ApplicationDestinationServiceAccount{sa("*", "*", "  ")}, prod, "web", "", "", false,
			`project "team-a": destinationServiceAccounts[0]: defaultServiceAccount "  ": empty`},
		{"space inside", []v1alpha1.ApplicationDestinationServiceAccount{sa("*", "*", "my sa")}, prod, "web", "", "", false,
			`project "team-a": destinationServiceAccounts[0]: defaultServiceAccount "my sa": contains white space`},
		{"empty namespace part", []v1alpha1.ApplicationDestinationServiceAccount{sa("*", "*", ":sa")}, prod, "web", "", "", false,
			`project "team-a": destinationServiceAccounts[0]: defaultServiceAccount ":sa": want "name" or "namespace:name"`},
		{"empty name part", []v1alpha1.ApplicationDestinationServiceAccount{sa("*", "*", "ops:")}, prod, "web", "", "", false,
			`project "team-a": destinationServiceAccounts[0]: defaultServiceAccount "ops:": want "name" or "namespace:name"`},
		{"two colons", []v1alpha1.ApplicationDestinationServiceAccount{sa("*", "*", "system:serviceaccount:ops:sa")}, prod, "web", "", "", false,
			`project "team-a": destinationServiceAccounts[0]: defaultServiceAccount "system:serviceaccount:ops:sa": want "name" or "namespace:name"`},
		{"plain name, cluster scope", []v1alpha1.ApplicationDestinationServiceAccount{sa("*", "*", "sa")}, prod, "", "", "", false,
			`project "team-a": destinationServiceAccounts[0]: defaultServiceAccount "sa": names no namespace and the destination has none`},
		{"bad server glob", []v1alpha1.ApplicationDestinationServiceAccount{sa("https://[", "*", "sa")}, prod, "web", "", "", false,
			`project "team-a": destinationServiceAccounts[0]: server "https://[": `},
		{"bad namespace glob", []v1alpha1.ApplicationDestinationServiceAccount{sa("*", "", "sa"), sa("*", "{a", "sa")}, prod, "web", "", "", false,
			`project "team-a": destinationServiceAccounts[1]: namespace "{a": `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proj(v1alpha1.AppProjectSpec{DestinationServiceAccounts: tt.entries})
			ns, name, ok, err := ServiceAccountFor(p, tt.server, tt.namespace)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error = %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("error = nil, want %s", tt.wantErr)
			case tt.wantErr != "" && strings.HasSuffix(tt.wantErr, ": "):
				if !strings.HasPrefix(err.Error(), tt.wantErr) || len(err.Error()) == len(tt.wantErr) {
					t.Errorf("error = %q, want %q and a reason", err, tt.wantErr)
				}
			case tt.wantErr != "" && err.Error() != tt.wantErr:
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
			if ns != tt.wantNS || name != tt.wantName || ok != tt.wantOK {
				t.Errorf("ServiceAccountFor(%q, %q) = %q, %q, %v; want %q, %q, %v", tt.server, tt.namespace, ns, name, ok, tt.wantNS, tt.wantName, tt.wantOK)
			}
		})
	}
}
