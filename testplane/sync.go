package main

// `testplane sync` plays Flux's kustomize-controller for Berth's GitOps tests and demo: it
// follows one branch of a Git repository, builds one folder of it with `kubectl kustomize`
// (the kustomize of the same Kubernetes release), applies the result server-side with the
// field manager kustomize-controller, and deletes what left Git since its last apply (its
// inventory, kept in the work directory like Flux keeps it in the Kustomization's status).
// Like Flux it generates a kustomization for a folder without one: the folder's manifests,
// and each subfolder with a kustomization.yaml as one resource.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

const syncFieldManager = "kustomize-controller"

type syncOptions struct {
	repo, branch, path       string
	kubeconfig, kubeContext  string
	kubectl, work, readyFile string
	interval                 time.Duration
}

// inventoryEntry names one object the last apply wrote.
type inventoryEntry struct {
	Group     string `json:"group"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (e inventoryEntry) key() string {
	return e.Group + "/" + e.Kind + "/" + e.Namespace + "/" + e.Name
}

func syncCommand(args []string) error {
	fs := flag.NewFlagSet("sync", flag.ExitOnError)
	var o syncOptions
	fs.StringVar(&o.repo, "repo", "", "the Git repository's URL (credentials in it; GIT_SSL_CAINFO for a private CA)")
	fs.StringVar(&o.branch, "branch", "main", "the branch to follow")
	fs.StringVar(&o.path, "path", "", "the folder to build and apply, e.g. clusters/real-east-1")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster")
	fs.StringVar(&o.kubeContext, "context", "", "its context (cluster-admin, as Flux runs)")
	fs.StringVar(&o.kubectl, "kubectl", "kubectl", "kubectl of the cluster's release, for `kubectl kustomize`")
	fs.StringVar(&o.work, "work", "", "directory for the clone and the inventory")
	fs.StringVar(&o.readyFile, "ready-file", "", "written after the first reconciliation")
	fs.DurationVar(&o.interval, "interval", time.Second, "how often to look at the branch")
	_ = fs.Parse(args)
	if o.repo == "" || o.path == "" || o.kubeconfig == "" || o.work == "" {
		return errors.New("sync needs --repo, --path, --kubeconfig and --work")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go watchParent(ctx, cancel)

	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: o.kubeContext},
	).ClientConfig()
	if err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	s := &syncer{o: o, client: client, mapper: mapper}
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	if err := s.git("init", "-q", "--bare", s.clone()); err != nil {
		return err
	}
	s.inventory = s.readInventory()

	ready := false
	for {
		if err := s.reconcile(ctx); err != nil {
			log.Printf("reconcile: %v", err)
		} else if !ready && o.readyFile != "" {
			ready = true
			if err := os.WriteFile(o.readyFile, []byte(s.applied+"\n"), 0o644); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
}

type syncer struct {
	o         syncOptions
	client    dynamic.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	inventory []inventoryEntry
	// the commit last applied without error
	applied string
}

func (s *syncer) clone() string { return filepath.Join(s.o.work, "repo.git") }

func (s *syncer) git(args ...string) error {
	_, err := s.gitOutput(args...)
	return err
}

func (s *syncer) gitOutput(args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// reconcile fetches the branch and, when its head moved (or the last apply failed), builds
// and applies the folder and prunes what left it.
func (s *syncer) reconcile(ctx context.Context) error {
	ref := "refs/remotes/origin/" + s.o.branch
	if err := s.git("--git-dir", s.clone(), "fetch", "-q", "--prune", s.o.repo, "+refs/heads/"+s.o.branch+":"+ref); err != nil {
		return err
	}
	out, err := s.gitOutput("--git-dir", s.clone(), "rev-parse", ref)
	if err != nil {
		return err
	}
	head := strings.TrimSpace(string(out))
	if head == s.applied {
		return nil
	}
	objects, err := s.build(head)
	if err != nil {
		return err
	}
	if err := s.apply(ctx, objects); err != nil {
		return err
	}
	s.applied = head
	log.Printf("applied %s: %d objects", head[:12], len(objects))
	return nil
}

// build exports the folder at `commit` and renders it with `kubectl kustomize`; a folder
// that is not there renders to nothing (everything Berth put there was removed).
func (s *syncer) build(commit string) ([]*unstructured.Unstructured, error) {
	export := filepath.Join(s.o.work, "export")
	if err := os.RemoveAll(export); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(export, 0o755); err != nil {
		return nil, err
	}
	path := strings.Trim(s.o.path, "/")
	if _, err := s.gitOutput("--git-dir", s.clone(), "cat-file", "-e", commit+":"+path); err != nil {
		return nil, nil
	}
	archive := exec.Command("git", "--git-dir", s.clone(), "archive", commit, path)
	tar := exec.Command("tar", "-x", "-C", export)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tar.Stdin = pipe
	if err := tar.Start(); err != nil {
		return nil, err
	}
	if err := archive.Run(); err != nil {
		return nil, fmt.Errorf("git archive: %w", err)
	}
	if err := tar.Wait(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	root := filepath.Join(export, path)
	if err := generateKustomizations(root); err != nil {
		return nil, err
	}
	cmd := exec.Command(s.o.kubectl, "kustomize", root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var objects []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered), 4096)
	for {
		var obj map[string]any
		if err := decoder.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if len(obj) > 0 {
			objects = append(objects, &unstructured.Unstructured{Object: obj})
		}
	}
	return objects, nil
}

// generateKustomizations gives every folder without a kustomization.yaml one, as Flux's
// kustomize-controller does: its YAML files, and each subfolder as a resource.
func generateKustomizations(dir string) error {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var resources []string
	for _, e := range entries {
		switch {
		case e.IsDir():
			if err := generateKustomizations(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
			resources = append(resources, e.Name())
		case strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml"):
			resources = append(resources, e.Name())
		}
	}
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	if len(resources) == 0 {
		b.Reset()
		b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")
	}
	for _, r := range resources {
		fmt.Fprintf(&b, "- %s\n", r)
	}
	return os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(b.String()), 0o644)
}

// apply writes every object server-side, Namespaces first, then deletes what the previous
// apply wrote and this one does not have (namespaced objects before Namespaces).
func (s *syncer) apply(ctx context.Context, objects []*unstructured.Unstructured) error {
	sort.SliceStable(objects, func(i, j int) bool {
		return rank(objects[i]) < rank(objects[j])
	})
	var applied []inventoryEntry
	var failures []string
	for _, obj := range objects {
		entry, err := s.applyOne(ctx, obj)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s %s: %v", obj.GetKind(), obj.GetName(), err))
			continue
		}
		applied = append(applied, entry)
	}
	if len(failures) > 0 {
		// Like Flux, nothing is pruned after a failed apply.
		return errors.New(strings.Join(failures, "; "))
	}
	keep := map[string]bool{}
	for _, e := range applied {
		keep[e.key()] = true
	}
	var stale []inventoryEntry
	for _, e := range s.inventory {
		if !keep[e.key()] {
			stale = append(stale, e)
		}
	}
	sort.SliceStable(stale, func(i, j int) bool {
		return (stale[i].Kind == "Namespace") != (stale[j].Kind == "Namespace") && stale[j].Kind == "Namespace"
	})
	for _, e := range stale {
		if err := s.delete(ctx, e); err != nil {
			return err
		}
		log.Printf("pruned %s %s/%s", e.Kind, e.Namespace, e.Name)
	}
	s.inventory = applied
	return s.writeInventory()
}

func rank(obj *unstructured.Unstructured) int {
	switch obj.GetKind() {
	case "CustomResourceDefinition":
		return 0
	case "Namespace":
		return 1
	default:
		return 2
	}
}

func (s *syncer) resource(group, version, kind string) (*meta.RESTMapping, error) {
	mapping, err := s.mapper.RESTMapping(schema.GroupKind{Group: group, Kind: kind}, version)
	if err != nil {
		s.mapper.Reset()
		mapping, err = s.mapper.RESTMapping(schema.GroupKind{Group: group, Kind: kind}, version)
	}
	return mapping, err
}

func (s *syncer) applyOne(ctx context.Context, obj *unstructured.Unstructured) (inventoryEntry, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := s.resource(gvk.Group, gvk.Version, gvk.Kind)
	if err != nil {
		return inventoryEntry{}, err
	}
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["kustomize.toolkit.fluxcd.io/name"] = "berth-sync"
	labels["kustomize.toolkit.fluxcd.io/namespace"] = "flux-system"
	obj.SetLabels(labels)
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return inventoryEntry{}, err
	}
	var api dynamic.ResourceInterface = s.client.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		api = s.client.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	}
	force := true
	_, err = api.Patch(ctx, obj.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: syncFieldManager, Force: &force})
	if err != nil {
		return inventoryEntry{}, err
	}
	return inventoryEntry{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}, nil
}

func (s *syncer) delete(ctx context.Context, e inventoryEntry) error {
	mapping, err := s.resource(e.Group, e.Version, e.Kind)
	if err != nil {
		return err
	}
	var api dynamic.ResourceInterface = s.client.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		api = s.client.Resource(mapping.Resource).Namespace(e.Namespace)
	}
	err = api.Delete(ctx, e.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func (s *syncer) inventoryFile() string { return filepath.Join(s.o.work, "inventory.json") }

func (s *syncer) readInventory() []inventoryEntry {
	var entries []inventoryEntry
	if data, err := os.ReadFile(s.inventoryFile()); err == nil {
		_ = json.Unmarshal(data, &entries)
	}
	return entries
}

func (s *syncer) writeInventory() error {
	data, err := json.Marshal(s.inventory)
	if err != nil {
		return err
	}
	return os.WriteFile(s.inventoryFile(), data, 0o644)
}
