package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// cluster is one control plane: its apiserver and the controllers around it.
type cluster struct {
	plane      *plane
	spec       clusterSpec
	index      int
	dir        string
	port       int
	berthToken string
	readyNodes int
	admin      *kubernetes.Clientset
	adminREST  *rest.Config
}

func (c *cluster) url() string { return fmt.Sprintf("https://127.0.0.1:%d", c.port) }

// Admission plugins are kube-apiserver's defaults (which include LimitRanger,
// ResourceQuota, ServiceAccount, PodSecurity, NamespaceLifecycle and the admission policy
// plugins) plus what the fleet file asks for.
func (c *cluster) apiserverArgs(saKey, saPub string) []string {
	p := c.plane
	args := []string{
		"--etcd-servers=" + p.etcdURL,
		// Clusters share the one etcd under their own prefix.
		"--etcd-prefix=/clusters/" + c.spec.Name,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.port),
		"--cert-dir=" + filepath.Join(c.dir, "certs"),
		"--tls-cert-file=" + p.pki.certFile,
		"--tls-private-key-file=" + p.pki.keyFile,
		"--client-ca-file=" + p.pki.caFile,
		"--token-auth-file=" + p.pki.tokenFile(),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://" + c.spec.Name + ".testplane.invalid",
		"--service-account-key-file=" + saPub,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// The apiserver's own endpoints would name 127.0.0.1, which Endpoints refuse.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--event-ttl=30m",
	}
	if o := p.o; o.oidcIssuer != "" {
		args = append(args,
			"--oidc-issuer-url="+o.oidcIssuer,
			"--oidc-client-id=berth",
			"--oidc-ca-file="+o.oidcCA,
			"--oidc-username-claim=email",
			"--oidc-username-prefix=oidc:",
			"--oidc-groups-claim=groups",
			"--oidc-groups-prefix="+o.oidcGroupPrefix,
		)
	}
	if len(c.spec.AdmissionPlugins) > 0 {
		args = append(args, "--enable-admission-plugins="+strings.Join(c.spec.AdmissionPlugins, ","))
	}
	if len(c.spec.DisableAdmissionPlugins) > 0 {
		args = append(args, "--disable-admission-plugins="+strings.Join(c.spec.DisableAdmissionPlugins, ","))
	}
	if len(c.spec.RuntimeConfig) > 0 {
		args = append(args, "--runtime-config="+strings.Join(c.spec.RuntimeConfig, ","))
	}
	if len(c.spec.FeatureGates) > 0 {
		var gates []string
		for k, v := range c.spec.FeatureGates {
			gates = append(gates, fmt.Sprintf("%s=%t", k, v))
		}
		sort.Strings(gates)
		args = append(args, "--feature-gates="+strings.Join(gates, ","))
	}
	return args
}

func (c *cluster) start(ctx context.Context, rbac []byte) error {
	p := c.plane
	c.dir = filepath.Join(p.o.work, c.spec.Name)
	if err := os.MkdirAll(filepath.Join(c.dir, "certs"), 0o700); err != nil {
		return err
	}
	var err error
	if c.port, err = freePort(); err != nil {
		return err
	}
	saKey, saPub, err := serviceAccountKey(c.dir)
	if err != nil {
		return err
	}
	name := c.spec.Name
	if _, err := p.spawn(name+"/kube-apiserver", filepath.Join(c.dir, "kube-apiserver.log"),
		"kube-apiserver", c.apiserverArgs(saKey, saPub)...); err != nil {
		return err
	}
	tlsClient := p.tlsClient()
	if err := poll(ctx, name+" kube-apiserver", func(ctx context.Context) error {
		return httpOK(ctx, tlsClient, c.url()+"/readyz", p.pki.adminToken)
	}); err != nil {
		return err
	}

	adminKubeconfig := filepath.Join(c.dir, "admin.kubeconfig")
	if err := writeAdminKubeconfig(adminKubeconfig, p.pki, c); err != nil {
		return err
	}
	c.adminREST = &rest.Config{
		Host:            c.url(),
		BearerToken:     p.pki.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.pki.caPEM},
		QPS:             200,
		Burst:           400,
	}
	if c.admin, err = kubernetes.NewForConfig(c.adminREST); err != nil {
		return err
	}

	if _, err := p.spawn(name+"/kube-controller-manager", filepath.Join(c.dir, "kube-controller-manager.log"),
		"kube-controller-manager",
		"--kubeconfig="+adminKubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--service-account-private-key-file="+saKey,
		"--root-ca-file="+p.pki.caFile,
		"--use-service-account-credentials=true",
		// Every default controller: namespace, resourcequota, garbage collector, service
		// accounts and their tokens, deployments and replica sets, disruption, ...
		"--controllers=*",
	); err != nil {
		return err
	}
	if _, err := p.spawn(name+"/kube-scheduler", filepath.Join(c.dir, "kube-scheduler.log"),
		"kube-scheduler",
		"--kubeconfig="+adminKubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
	); err != nil {
		return err
	}
	stages := filepath.Join(c.dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, []byte(strings.Join([]string{
		nodefast.DefaultNodeInit,
		nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}, "\n---\n")), 0o644); err != nil {
		return err
	}
	if _, err := p.spawn(name+"/kwok", filepath.Join(c.dir, "kwok.log"),
		"kwok",
		"--kubeconfig="+adminKubeconfig,
		"--config="+stages,
		// Only the nodes the fleet says are ready; the others stay NotReady.
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+kwokAnnotation+"=fake",
		fmt.Sprintf("--cidr=10.%d.0.0/16", 100+c.index),
		fmt.Sprintf("--node-ip=10.%d.255.254", 100+c.index),
	); err != nil {
		return err
	}

	if err := c.setup(ctx, rbac); err != nil {
		return err
	}
	return c.waitSettled(ctx)
}

// Nodes with this annotation are kwok's; it keeps them Ready and runs their pods.
const kwokAnnotation = "kwok.x-k8s.io/node"

func (c *cluster) readyCount() int {
	n := 0
	for _, pool := range c.spec.NodePools {
		if pool.Ready != nil {
			n += min(*pool.Ready, pool.Nodes)
		} else {
			n += pool.Nodes
		}
	}
	return n
}

func hasPool(c clusterSpec, name string) bool {
	return slices.ContainsFunc(c.NodePools, func(p nodePoolSpec) bool { return p.Name == name })
}
