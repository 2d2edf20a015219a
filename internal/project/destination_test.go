package project

import (
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestDestinationPermitted(t *testing.T) {
	const (
		prod = "https://prod.example.com"
		dev  = "https://dev.example.com"
	)
	tests := []struct {
		name  string
		items []v1alpha1.ApplicationDestination
		d     Destination
		want  bool
	}{
		{"no destinations", nil, Destination{Server: prod, Namespace: "web"}, false},
		{"any", []v1alpha1.ApplicationDestination{dest("*", "", "*")}, Destination{Server: prod, Namespace: "web"}, true},
		{"any, cluster scope", []v1alpha1.ApplicationDestination{dest("*", "", "*")}, Destination{Server: prod}, true},
		{"exact", []v1alpha1.ApplicationDestination{dest(prod, "", "web")}, Destination{Server: prod, Namespace: "web"}, true},
		{"other namespace", []v1alpha1.ApplicationDestination{dest(prod, "", "web")}, Destination{Server: prod, Namespace: "db"}, false},
		{"other server", []v1alpha1.ApplicationDestination{dest(prod, "", "web")}, Destination{Server: dev, Namespace: "web"}, false},
		{"namespace glob", []v1alpha1.ApplicationDestination{dest(prod, "", "team-*")}, Destination{Server: prod, Namespace: "team-x"}, true},
		{"empty namespace item is cluster scope only", []v1alpha1.ApplicationDestination{dest(prod, "", "")}, Destination{Server: prod}, true},
		{"empty namespace item refuses a namespace", []v1alpha1.ApplicationDestination{dest(prod, "", "")}, Destination{Server: prod, Namespace: "web"}, false},
		{"server glob without separators crosses slashes", []v1alpha1.ApplicationDestination{dest("https://*", "", "*")}, Destination{Server: "https://a/b/c", Namespace: "x"}, true},
		{"name only item, name only destination", []v1alpha1.ApplicationDestination{dest("", "prod", "*")}, Destination{Name: "prod", Namespace: "web"}, true},
		{"name only item, other name", []v1alpha1.ApplicationDestination{dest("", "prod", "*")}, Destination{Name: "dev", Namespace: "web"}, false},
		{"name only item, server only destination", []v1alpha1.ApplicationDestination{dest("", "prod", "*")}, Destination{Server: prod, Namespace: "web"}, false},
		{"server item, name only destination", []v1alpha1.ApplicationDestination{dest("*", "", "*")}, Destination{Name: "prod", Namespace: "web"}, false},
		{"server item, resolved destination", []v1alpha1.ApplicationDestination{dest("*", "", "*")}, Destination{Server: prod, Name: "prod", Namespace: "web"}, true},
		{"name glob", []v1alpha1.ApplicationDestination{dest("", "prod-*", "*")}, Destination{Name: "prod-eu", Namespace: "web"}, true},
		{"second item matches", []v1alpha1.ApplicationDestination{dest(dev, "", "*"), dest(prod, "", "web")}, Destination{Server: prod, Namespace: "web"}, true},

		// Deny on the server: refuses in the namespaces the item covers.
		{"server deny refuses", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest("!"+prod, "", "*")}, Destination{Server: prod, Namespace: "web"}, false},
		{"server deny permits other servers", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest("!"+prod, "", "*")}, Destination{Server: dev, Namespace: "web"}, true},
		{"server deny outside its namespaces does not refuse", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest("!"+prod, "", "kube-*")}, Destination{Server: prod, Namespace: "web"}, true},
		{"server deny inside its namespaces refuses", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest("!"+prod, "", "kube-*")}, Destination{Server: prod, Namespace: "kube-system"}, false},
		{"lone server deny permits other servers", []v1alpha1.ApplicationDestination{dest("!"+prod, "", "*")}, Destination{Server: dev, Namespace: "web"}, true},
		{"server deny glob", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest("!https://prod*", "", "*")}, Destination{Server: prod, Namespace: "web"}, false},

		// Deny on the name: refuses whatever the namespace.
		{"name deny refuses", []v1alpha1.ApplicationDestination{dest("", "*", "*"), dest("", "!prod", "*")}, Destination{Name: "prod", Namespace: "web"}, false},
		{"name deny permits other names", []v1alpha1.ApplicationDestination{dest("", "*", "*"), dest("", "!prod", "*")}, Destination{Name: "dev", Namespace: "web"}, true},
		{"name deny refuses outside its namespaces too", []v1alpha1.ApplicationDestination{dest("", "*", "*"), dest("", "!prod", "kube-*")}, Destination{Name: "prod", Namespace: "web"}, false},
		// As in Argo CD, a name deny refuses a destination that gives no name:
		// the name "does not match" it. Callers pass both server and name.
		{"name deny with server-only destination", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest("", "!prod", "*")}, Destination{Server: prod, Namespace: "web"}, false},

		// Deny on the namespace: refuses on the servers the item covers.
		{"namespace deny refuses", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest("*", "", "!kube-system")}, Destination{Server: prod, Namespace: "kube-system"}, false},
		{"namespace deny permits other namespaces", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest("*", "", "!kube-system")}, Destination{Server: prod, Namespace: "web"}, true},
		{"namespace deny on another server does not refuse", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest(dev, "", "!kube-system")}, Destination{Server: prod, Namespace: "kube-system"}, true},
		{"namespace deny by name only item does not refuse", []v1alpha1.ApplicationDestination{dest("", "*", "*"), dest("", "prod", "!kube-system")}, Destination{Name: "prod", Namespace: "kube-system"}, true},
		{"namespace deny glob", []v1alpha1.ApplicationDestination{dest("*", "", "*"), dest("*", "", "!kube-*")}, Destination{Server: prod, Namespace: "kube-public"}, false},
		{"lone namespace deny permits the rest", []v1alpha1.ApplicationDestination{dest(prod, "", "!kube-system")}, Destination{Server: prod, Namespace: "web"}, true},
		{"lone namespace deny refuses what it names", []v1alpha1.ApplicationDestination{dest(prod, "", "!kube-system")}, Destination{Server: prod, Namespace: "kube-system"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proj(v1alpha1.AppProjectSpec{Destinations: tt.items})
			if got := DestinationPermitted(p, tt.d); got != tt.want {
				t.Errorf("DestinationPermitted(%+v, %+v) = %v, want %v", tt.items, tt.d, got, tt.want)
			}
		})
	}
}
