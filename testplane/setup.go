package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	berthNamespace      = "berth-system"
	berthServiceAccount = "berth"
	// Long enough for any test run or demo session.
	berthTokenSeconds = 7 * 24 * 3600
)

// setup gives a fresh control plane what the fleet file describes: nodes of each pool,
// storage classes, Velero's CRDs, running load pods; and Berth's ServiceAccount with the
// chart's ClusterRole and a token.
func (c *cluster) setup(ctx context.Context, rbac []byte) error {
	if err := c.createNodes(ctx); err != nil {
		return fmt.Errorf("nodes: %w", err)
	}
	for _, sc := range c.spec.StorageClasses {
		if err := c.createStorageClass(ctx, sc); err != nil {
			return fmt.Errorf("storage class %s: %w", sc.Name, err)
		}
	}
	if c.spec.Velero {
		if err := c.installVelero(ctx); err != nil {
			return fmt.Errorf("velero CRDs: %w", err)
		}
	}
	if err := c.installBerth(ctx, rbac); err != nil {
		return fmt.Errorf("berth's service account: %w", err)
	}
	if c.spec.Kyverno {
		if err := c.startKyverno(ctx); err != nil {
			return fmt.Errorf("kyverno: %w", err)
		}
	}
	return nil
}

func quantities(m map[string]string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for k, v := range m {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", k, v, err)
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}

// Nodes are named <cluster>-<pool>-<n> and labelled as the simulator labels them, so
// Berth's inventory reads a real cluster exactly as it reads a simulated one.
func (c *cluster) createNodes(ctx context.Context) error {
	for _, pool := range c.spec.NodePools {
		allocatable, err := quantities(pool.Allocatable)
		if err != nil {
			return fmt.Errorf("pool %s allocatable %w", pool.Name, err)
		}
		capacity := allocatable
		if pool.Capacity != nil {
			if capacity, err = quantities(pool.Capacity); err != nil {
				return fmt.Errorf("pool %s capacity %w", pool.Name, err)
			}
		}
		ready := pool.Nodes
		if pool.Ready != nil {
			ready = *pool.Ready
		}
		for n := 0; n < pool.Nodes; n++ {
			name := fmt.Sprintf("%s-%s-%d", c.spec.Name, pool.Name, n)
			labels := map[string]string{
				"kubernetes.io/hostname":           name,
				"kubernetes.io/os":                 "linux",
				"kubernetes.io/arch":               "amd64",
				"topology.kubernetes.io/zone":      c.spec.zone(n),
				"topology.kubernetes.io/region":    c.spec.Region,
				"node.kubernetes.io/instance-type": pool.InstanceType,
				"type":                             "kwok",
				pool.LabelKey:                      pool.Name,
			}
			for k, v := range pool.Labels {
				labels[k] = v
			}
			// kwok takes a node over only once its annotation says "fake": after its status
			// carries the pool's allocatable, which kwok would otherwise fill with its own.
			annotations := map[string]string{kwokAnnotation: "pending"}
			node := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
				Spec:       corev1.NodeSpec{ProviderID: fmt.Sprintf("kwok://%s/%s", c.spec.Name, name)},
			}
			for _, t := range pool.Taints {
				node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{
					Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect),
				})
			}
			created, err := c.admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			created.Status.Capacity = capacity
			created.Status.Allocatable = allocatable
			created.Status.NodeInfo = corev1.NodeSystemInfo{
				KubeletVersion: "kwok", OperatingSystem: "linux", Architecture: "amd64",
			}
			if n >= ready {
				created.Status.Conditions = []corev1.NodeCondition{{
					Type: corev1.NodeReady, Status: corev1.ConditionFalse,
					Reason: "KubeletNotReady", Message: "the fleet file marks this node not ready",
				}}
			}
			if _, err := c.admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
				return err
			}
			if n >= ready {
				// Left alone by kwok, it never reports Ready.
				continue
			}
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"fake"}}}`, kwokAnnotation)
			if _, err := c.admin.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *cluster) createStorageClass(ctx context.Context, sc storageClassSpec) error {
	reclaim := corev1.PersistentVolumeReclaimPolicy(or(sc.ReclaimPolicy, "Delete"))
	binding := storagev1.VolumeBindingMode(or(sc.VolumeBindingMode, "WaitForFirstConsumer"))
	class := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: sc.Name},
		Provisioner:          sc.Provisioner,
		Parameters:           sc.Parameters,
		ReclaimPolicy:        &reclaim,
		VolumeBindingMode:    &binding,
		AllowVolumeExpansion: &sc.AllowVolumeExpansion,
	}
	if sc.Default {
		class.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	}
	_, err := c.admin.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{})
	return err
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// installVelero installs Velero's own CRD definitions (from the Velero Go module) and the
// velero namespace its Backups and Restores live in. No Velero server runs: tests play it.
func (c *cluster) installVelero(ctx context.Context) error {
	if c.plane.o.veleroCRDs == "" {
		return fmt.Errorf("the fleet wants Velero but --velero-crds was not given")
	}
	files, err := filepath.Glob(filepath.Join(c.plane.o.veleroCRDs, "velero.io_*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no velero.io_*.yaml in %s", c.plane.o.veleroCRDs)
	}
	if err := c.installCRDs(ctx, files); err != nil {
		return err
	}
	return c.ensureNamespace(ctx, "velero")
}

func (c *cluster) ensureNamespace(ctx context.Context, name string) error {
	_, err := c.admin.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// installBerth creates Berth's ServiceAccount, the chart's ClusterRole and its binding
// (exactly as Helm renders them), and a token Berth connects with.
func (c *cluster) installBerth(ctx context.Context, rbac []byte) error {
	if err := c.ensureNamespace(ctx, berthNamespace); err != nil {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: berthServiceAccount, Namespace: berthNamespace}}
	if _, err := c.admin.CoreV1().ServiceAccounts(berthNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rbac), 4096)
	for {
		var doc map[string]any
		if err := decoder.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				break
			}
			return err
		}
		if doc == nil {
			continue
		}
		raw, _ := yaml.Marshal(doc)
		switch doc["kind"] {
		case "ClusterRole":
			var role rbacv1.ClusterRole
			if err := yaml.Unmarshal(raw, &role); err != nil {
				return err
			}
			if _, err := c.admin.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
				return err
			}
		case "ClusterRoleBinding":
			var binding rbacv1.ClusterRoleBinding
			if err := yaml.Unmarshal(raw, &binding); err != nil {
				return err
			}
			if _, err := c.admin.RbacV1().ClusterRoleBindings().Create(ctx, &binding, metav1.CreateOptions{}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected %v in the chart's clusterrole.yaml", doc["kind"])
		}
	}
	seconds := int64(berthTokenSeconds)
	token, err := c.admin.CoreV1().ServiceAccounts(berthNamespace).CreateToken(ctx, berthServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}},
		metav1.CreateOptions{})
	if err != nil {
		return err
	}
	c.berthToken = token.Status.Token
	return nil
}

// waitSettled waits until every controller has shown it works: the service-account
// controller (the default ServiceAccount), kwok (nodes Ready), the scheduler (a probe pod
// bound to a node) and the fleet's load pods Running.
func (c *cluster) waitSettled(ctx context.Context) error {
	name := c.spec.Name
	if err := poll(ctx, name+" kube-controller-manager (default ServiceAccount)", func(ctx context.Context) error {
		_, err := c.admin.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	want := c.readyCount()
	if err := poll(ctx, name+" kwok (nodes Ready)", func(ctx context.Context) error {
		nodes, err := c.admin.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		c.readyNodes = ready
		if ready < want {
			return fmt.Errorf("%d of %d nodes Ready", ready, want)
		}
		return nil
	}); err != nil {
		return err
	}
	if want > 0 {
		if err := c.probeScheduler(ctx); err != nil {
			return err
		}
	}
	return c.startLoad(ctx)
}

func (c *cluster) probeScheduler(ctx context.Context) error {
	pods := c.admin.CoreV1().Pods("default")
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "testplane-scheduler-probe"},
		Spec: corev1.PodSpec{
			Containers:  []corev1.Container{{Name: "probe", Image: "registry.invalid/probe:1"}},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		},
	}
	if err := poll(ctx, c.spec.Name+" probe pod", func(ctx context.Context) error {
		_, err := pods.Create(ctx, probe, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	if err := poll(ctx, c.spec.Name+" kube-scheduler (probe pod bound)", func(ctx context.Context) error {
		p, err := pods.Get(ctx, probe.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.NodeName == "" {
			return fmt.Errorf("not scheduled yet")
		}
		return nil
	}); err != nil {
		return err
	}
	zero := int64(0)
	return pods.Delete(ctx, probe.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
}

// startLoad places the fleet's load pods on the ready nodes of their pools, as the
// simulator does, and waits until kwok runs them.
func (c *cluster) startLoad(ctx context.Context) error {
	total := 0
	for _, load := range c.spec.Pods {
		if !hasPool(c.spec, load.Pool) {
			return fmt.Errorf("pods name pool %s which does not exist", load.Pool)
		}
		if err := c.ensureNamespace(ctx, load.Namespace); err != nil {
			return err
		}
		requests, err := quantities(map[string]string{"cpu": load.CPU, "memory": load.Memory})
		if err != nil {
			return err
		}
		for _, pool := range c.spec.NodePools {
			if pool.Name != load.Pool {
				continue
			}
			ready := pool.Nodes
			if pool.Ready != nil {
				ready = *pool.Ready
			}
			for n := 0; n < ready; n++ {
				node := fmt.Sprintf("%s-%s-%d", c.spec.Name, pool.Name, n)
				for i := 0; i < load.PerNode; i++ {
					pod := &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("load-%s-%d", node, i), Namespace: load.Namespace},
						Spec: corev1.PodSpec{
							NodeName: node,
							Containers: []corev1.Container{{
								Name: "app", Image: "registry.invalid/load:1",
								Resources: corev1.ResourceRequirements{Requests: requests},
							}},
							Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
						},
					}
					// The namespace's default ServiceAccount appears a moment after it.
					if err := poll(ctx, "load pod "+pod.Name, func(ctx context.Context) error {
						_, err := c.admin.CoreV1().Pods(load.Namespace).Create(ctx, pod, metav1.CreateOptions{})
						if apierrors.IsAlreadyExists(err) {
							return nil
						}
						return err
					}); err != nil {
						return err
					}
					total++
				}
			}
		}
	}
	if total == 0 {
		return nil
	}
	return poll(ctx, c.spec.Name+" load pods Running", func(ctx context.Context) error {
		running := 0
		for _, ns := range loadNamespaces(c.spec) {
			list, err := c.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			for _, p := range list.Items {
				if strings.HasPrefix(p.Name, "load-") && p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
		}
		if running < total {
			return fmt.Errorf("%d of %d load pods Running", running, total)
		}
		return nil
	})
}

func loadNamespaces(c clusterSpec) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range c.Pods {
		if !seen[l.Namespace] {
			seen[l.Namespace] = true
			out = append(out, l.Namespace)
		}
	}
	return out
}

// installCRDs creates the CRDs of the given files (one or more documents each) and waits
// until the API server serves every one.
func (c *cluster) installCRDs(ctx context.Context, files []string) error {
	client, err := apiextensions.NewForConfig(c.adminREST)
	if err != nil {
		return err
	}
	var names []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		docs := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := docs.Decode(&crd); err == io.EOF {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if crd.Name == "" {
				continue
			}
			if _, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("%s: %w", crd.Name, err)
			}
			names = append(names, crd.Name)
		}
	}
	for _, name := range names {
		if err := poll(ctx, "CRD "+name, func(ctx context.Context) error {
			crd, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("not established")
		}); err != nil {
			return err
		}
	}
	return nil
}

// startKyverno runs Kyverno's admission controller against the cluster the way its own
// DEVELOPMENT.md runs it out of cluster: its CRDs and the kyverno namespace with its two
// ConfigMaps installed, the process on a loopback port given as --serverIP, so that the
// webhooks it registers call https://127.0.0.1:<port> with a certificate for that address.
// Nothing of it listens beyond loopback, and it stops with the cluster.
func (c *cluster) startKyverno(ctx context.Context) error {
	o := c.plane.o
	if o.kyvernoBin == "" || o.kyvernoCRDs == "" {
		return fmt.Errorf("the fleet wants Kyverno but --kyverno and --kyverno-crds were not given")
	}
	var files []string
	err := filepath.WalkDir(o.kyvernoCRDs, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRD definitions under %s (%v)", o.kyvernoCRDs, err)
	}
	if err := c.installCRDs(ctx, files); err != nil {
		return err
	}
	if err := c.ensureNamespace(ctx, "kyverno"); err != nil {
		return err
	}
	for _, name := range []string{"kyverno", "kyverno-metrics"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kyverno"}}
		if _, err := c.admin.CoreV1().ConfigMaps("kyverno").Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	metrics, err := freePort()
	if err != nil {
		return err
	}
	env := []string{
		"KYVERNO_NAMESPACE=kyverno",
		"KYVERNO_SERVICEACCOUNT_NAME=kyverno-admission-controller",
		"KYVERNO_DEPLOYMENT=kyverno-admission-controller",
		"KYVERNO_POD_NAME=kyverno-admission-controller-testplane",
		"INIT_CONFIG=kyverno",
		"METRICS_CONFIG=kyverno-metrics",
	}
	if _, err := c.plane.spawnEnv(c.spec.Name+"/kyverno", filepath.Join(c.dir, "kyverno.log"), o.kyvernoBin, env,
		"--kubeconfig="+filepath.Join(c.dir, "admin.kubeconfig"),
		fmt.Sprintf("--serverIP=127.0.0.1:%d", port),
		"--webhookServerHost=127.0.0.1",
		fmt.Sprintf("--webhookServerPort=%d", port),
		"--metricsHost=127.0.0.1",
		fmt.Sprintf("--metricsPort=%d", metrics),
		"--disableMetrics=true",
		"--controllerRuntimeMetricsAddress=0",
		"--caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca",
		"--tlsSecretName=kyverno-svc.kyverno.svc.kyverno-tls-pair",
		"--backgroundServiceAccountName=system:serviceaccount:kyverno:kyverno-background-controller",
		"--reportsServiceAccountName=system:serviceaccount:kyverno:kyverno-reports-controller",
		"--admissionReports=false",
	); err != nil {
		return err
	}
	// Ready once it answers on its port and has registered the webhook its policies use.
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		// Its certificate is one it made itself; this only asks whether it is up.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	if err := poll(ctx, c.spec.Name+" kyverno", func(ctx context.Context) error {
		if err := httpOK(ctx, insecure, fmt.Sprintf("https://127.0.0.1:%d/health/readiness", port), ""); err != nil {
			return err
		}
		_, err := c.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "kyverno-policy-validating-webhook-cfg", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	return nil
}
