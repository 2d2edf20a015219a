package appset

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterGenerator yields one parameter set per cluster of Inputs.Clusters whose labels match
// Selector (an empty selector matches every cluster). Values are added as values.<key>; each
// value is itself a template over the cluster's parameters.
type ClusterGenerator struct {
	Selector metav1.LabelSelector `json:"selector,omitempty"`
	Values   map[string]string    `json:"values,omitempty"`
}

// Cluster is one entry of the cluster registry seen by the cluster generator. The local cluster
// (https://kubernetes.default.svc) takes part only if the caller lists it.
type Cluster struct {
	Name        string
	Server      string
	Labels      map[string]string
	Annotations map[string]string
}

// clusters yields one set per matching cluster.
func (g *generation) clusters(c *ClusterGenerator) ([]map[string]any, error) {
	if err := checkSelector(&c.Selector); err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	sets := []map[string]any{}
	for _, cl := range g.in.Clusters {
		if !selectorMatches(&c.Selector, cl.Labels) {
			continue
		}
		set := map[string]any{
			"name":           cl.Name,
			"nameNormalized": normalize(cl.Name),
			"server":         cl.Server,
			"project":        "",
		}
		if g.in.GoTemplate {
			set["metadata"] = map[string]any{
				"labels":      cloneStrings(cl.Labels),
				"annotations": cloneStrings(cl.Annotations),
			}
		} else {
			for k, v := range cl.Labels {
				set["metadata.labels."+k] = v
			}
			for k, v := range cl.Annotations {
				set["metadata.annotations."+k] = v
			}
		}
		if err := g.addValues(set, c.Values); err != nil {
			return nil, fmt.Errorf("cluster %q: %w", cl.Name, err)
		}
		sets = append(sets, set)
	}
	return sets, nil
}
