package localcluster

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// createNodes registers the fake Nodes kwok plays the kubelet for. They carry
// no taint, so ordinary workloads schedule onto them as they would in a real
// cluster.
func (c *Cluster) createNodes(ctx context.Context) error {
	cs, err := c.clientset(c.admin)
	if err != nil {
		return err
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("1000"),
	}
	for i := range c.opts.Nodes {
		name := nodeName(i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{kwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels: map[string]string{
					"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
					"kubernetes.io/arch": "amd64", "kubernetes.io/role": "agent",
				},
			},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return nil
}

// waitWorkloadReady waits until every fake Node is Ready and the controller
// manager has created the default ServiceAccount.
func (c *Cluster) waitWorkloadReady(ctx context.Context) error {
	cs, err := c.clientset(c.admin)
	if err != nil {
		return err
	}
	var notReady []string
	err = c.waitAll(ctx, "fake nodes Ready", func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		notReady = notReady[:0]
		ready := 0
		for _, n := range nodes.Items {
			if NodeReady(&n) {
				ready++
			} else {
				notReady = append(notReady, n.Name)
			}
		}
		return ready >= c.opts.Nodes, nil
	})
	if err != nil {
		return fmt.Errorf("%w (not ready: %s)", err, strings.Join(notReady, ", "))
	}
	return c.waitAll(ctx, "default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// NodeReady reports whether a Node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
