package localcluster

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceCIDR is the Service range. A /16: a /24 runs out after 253 Services.
const ServiceCIDR = "10.0.0.0/16"

// podCIDR is where kwok assigns fake Pod IPs; apart from ServiceCIDR.
const podCIDR = "10.244.0.1/16"

func (c *Cluster) startEtcd(ctx context.Context) error {
	clientPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	clientURL := "http://" + hostPort(clientPort)
	peerURL := "http://" + hostPort(peerPort)
	p, err := c.run("etcd",
		"--name=local",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=local="+peerURL,
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	c.etcdURL = clientURL
	return waitFor(ctx, p, "etcd health", func(ctx context.Context) (bool, error) {
		return httpOK(ctx, http.DefaultClient, clientURL+"/health")
	})
}

func (c *Cluster) startAPIServer(ctx context.Context, p *pki, pkiDir string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.server = "https://" + hostPort(port)
	pkiFile := func(name string) string { return filepath.Join(pkiDir, name) }
	c.apiArgs = []string{"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The endpoint reconciler refuses loopback addresses; nothing in a
		// local cluster dials the "kubernetes" Service's endpoints anyway.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + pkiDir,
		"--tls-cert-file=" + pkiFile("apiserver.crt"),
		"--tls-private-key-file=" + pkiFile("apiserver.key"),
		"--client-ca-file=" + pkiFile("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pkiFile("sa.pub"),
		"--service-account-signing-key-file=" + pkiFile("sa.key"),
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--profiling=false",
	}
	c.apiArgs = append(c.apiArgs, c.opts.APIServerArgs...)
	c.admin = restConfig(c.server, p.caCert, p.admin)
	c.user = restConfig(c.server, p.caCert, p.user)
	c.kubecfg = filepath.Join(c.dir, "kubeconfig")
	if err := writeKubeconfig(c.kubecfg, c.server, p.caCert,
		credential{AdminContext, AdminName, p.admin}, credential{UserContext, UserName, p.user}); err != nil {
		return err
	}
	return c.StartAPIServer(ctx)
}

// StartAPIServer starts the API server (again, after StopAPIServer) on the
// same address with the same certificates and storage, and waits until it
// is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	proc, err := c.run("kube-apiserver", c.apiArgs...)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.apiProc = proc
	c.mu.Unlock()
	httpClient, err := httpClientFor(c.admin)
	if err != nil {
		return err
	}
	return waitFor(ctx, proc, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		return httpOK(ctx, httpClient, c.server+"/readyz")
	})
}

// StopAPIServer stops the API server alone, as an outage would: etcd and
// the other components keep running.
func (c *Cluster) StopAPIServer(ctx context.Context) error {
	c.mu.Lock()
	proc := c.apiProc
	c.apiProc = nil
	c.mu.Unlock()
	if proc == nil {
		return fmt.Errorf("the API server is not running")
	}
	return proc.stop(ctx, 5*time.Second)
}

// grantUser binds the non-admin user to cluster-admin: full rights, but
// without the APF exemption of system:masters.
func (c *Cluster) grantUser(ctx context.Context) error {
	cs, err := c.clientset(c.admin)
	if err != nil {
		return err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: UserName + "-cluster-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: UserName}},
	}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bind %s to cluster-admin: %w", UserName, err)
	}
	return nil
}

// startWorkloadComponents starts the controller manager, scheduler and kwok,
// creates the fake Nodes and waits until they are Ready and the default
// ServiceAccount exists (Pods cannot be admitted before it does).
func (c *Cluster) startWorkloadComponents(ctx context.Context, p *pki, pkiDir string) error {
	kcmConfig := filepath.Join(c.dir, "controller-manager.kubeconfig")
	schedConfig := filepath.Join(c.dir, "scheduler.kubeconfig")
	if err := writeKubeconfig(kcmConfig, c.server, p.caCert, credential{"kcm", "system:kube-controller-manager", p.controllerMgr}); err != nil {
		return err
	}
	if err := writeKubeconfig(schedConfig, c.server, p.caCert, credential{"scheduler", "system:kube-scheduler", p.scheduler}); err != nil {
		return err
	}
	// As kubeadm does: each controller runs under its own ServiceAccount, so
	// the bootstrap RBAC policy grants exactly what it needs.
	if _, err := c.run("kube-controller-manager",
		"--kubeconfig="+kcmConfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+filepath.Join(pkiDir, "sa.key"),
		"--root-ca-file="+filepath.Join(pkiDir, "ca.crt"),
		"--cluster-name=ferry-local",
	); err != nil {
		return err
	}
	if _, err := c.run("kube-scheduler",
		"--kubeconfig="+schedConfig,
		"--secure-port=0",
		"--leader-elect=false",
	); err != nil {
		return err
	}
	if err := c.startKwok(); err != nil {
		return err
	}
	if err := c.createNodes(ctx); err != nil {
		return err
	}
	return c.waitWorkloadReady(ctx)
}

func (c *Cluster) startKwok() error {
	stages, err := stageFiles(c.opts.BinDir)
	if err != nil {
		return fmt.Errorf("list kwok stage files: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + c.kubecfg,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--node-lease-duration-seconds=40",
		"--cidr=" + podCIDR,
		"--node-ip=127.0.0.1",
		"--server-address=" + hostPort(port),
	}
	for _, s := range stages {
		args = append(args, "-c", s)
	}
	_, err = c.run("kwok", args...)
	return err
}

// kwokNodeAnnotation marks the Nodes kwok manages.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

func nodeName(i int) string { return "kwok-node-" + strconv.Itoa(i) }
