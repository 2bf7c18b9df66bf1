// Command testplane runs real Kubernetes control planes on loopback for Berth's tests,
// benchmarks and demo: one etcd, and for each cluster of a fleet file a kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, whose fake nodes carry the pools,
// zones, taints and allocatable the fleet file gives. Every binary is built from the Go
// module proxy at the versions in versions.env (scripts/cluster builds and caches them).
//
//	testplane up --bin DIR --fleet FILE --work DIR --kubeconfig FILE [flags]
//
// `up` prints one line per cluster when all of them are ready, then runs until it is
// interrupted or its parent goes away; either way it stops every process it started.
// It writes a kubeconfig with two contexts per cluster: `<cluster>` is Berth, a
// ServiceAccount bound to exactly the Helm chart's ClusterRole, and `<cluster>-admin` is
// cluster-admin, for tests that play controllers Berth does not run (Velero, workloads).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "up":
		if err := up(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "testplane: %v\n", err)
			os.Exit(1)
		}
	case "sync":
		if err := syncCommand(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "testplane sync: %v\n", err)
			os.Exit(1)
		}
	case "render-rbac":
		if err := renderRBACCommand(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "testplane: %v\n", err)
			os.Exit(1)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testplane up --bin DIR --fleet FILE --work DIR --kubeconfig FILE [--clusters a,b] [--chart DIR] [--velero-crds DIR] [--kyverno BIN --kyverno-crds DIR]")
	fmt.Fprintln(os.Stderr, "       testplane sync --repo URL --path DIR --kubeconfig FILE --context NAME --work DIR [--branch main] [--kubectl PATH]   (plays Flux's kustomize-controller)")
	fmt.Fprintln(os.Stderr, "       testplane render-rbac --chart DIR   (the chart's ClusterRole, as Helm renders it)")
	os.Exit(2)
}

type options struct {
	bin        string
	fleet      string
	work       string
	kubeconfig string
	clusters   []string
	chart      string
	veleroCRDs string
	// Kyverno's admission controller binary and its CRD definitions (config/crds of the
	// Kyverno module), for clusters the fleet says run Kyverno.
	kyvernoBin  string
	kyvernoCRDs string
	readyFile   string
	timeout     time.Duration
	// An OpenID provider every kube-apiserver trusts (the same one Berth signs people in
	// with), its CA, and the group prefix that makes its groups Berth's team groups.
	oidcIssuer      string
	oidcCA          string
	oidcGroupPrefix string
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	var o options
	var clusters string
	fs.StringVar(&o.bin, "bin", "", "directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok")
	fs.StringVar(&o.fleet, "fleet", "", "fleet file (the format of backend/fleet-sim/fleets/demo.yaml)")
	fs.StringVar(&o.work, "work", "", "directory for data, certificates and logs (emptied first)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "where to write the kubeconfig")
	fs.StringVar(&clusters, "clusters", "", "comma-separated clusters of the fleet to start (default: all)")
	fs.StringVar(&o.chart, "chart", "", "Berth's Helm chart: its ClusterRole is what Berth's ServiceAccount gets")
	fs.StringVar(&o.veleroCRDs, "velero-crds", "", "directory of Velero's CRD definitions, installed where the fleet says velero: true")
	fs.StringVar(&o.kyvernoBin, "kyverno", "", "Kyverno's admission controller (cmd/kyverno), run out of cluster where the fleet says kyverno: true")
	fs.StringVar(&o.kyvernoCRDs, "kyverno-crds", "", "directory of Kyverno's CRD definitions (config/crds of its module)")
	fs.StringVar(&o.readyFile, "ready-file", "", "written once every cluster is ready")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long the start may take")
	fs.StringVar(&o.oidcIssuer, "oidc-issuer", "", "an OpenID provider (https) whose ID tokens (client berth) every kube-apiserver accepts")
	fs.StringVar(&o.oidcCA, "oidc-ca-file", "", "the CA of the OpenID provider's certificate")
	fs.StringVar(&o.oidcGroupPrefix, "oidc-groups-prefix", "berth:", "prefix of the provider's groups on the clusters (BERTH_TEAM_GROUP_PATTERN without {team})")
	_ = fs.Parse(args)
	if o.bin == "" || o.fleet == "" || o.work == "" || o.kubeconfig == "" || o.chart == "" {
		usage()
	}
	if clusters != "" {
		o.clusters = strings.Split(clusters, ",")
	}

	fleet, err := readFleet(o.fleet, o.clusters)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go watchParent(ctx, cancel)

	plane := newPlane(o, cancel)
	defer plane.stopAll()

	startCtx, startCancel := context.WithTimeout(ctx, o.timeout)
	err = plane.start(startCtx, fleet)
	startCancel()
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		plane.printFailure()
		return err
	}
	for _, c := range plane.clusters {
		fmt.Printf("ready %s %s (%d nodes)\n", c.spec.Name, c.url(), c.readyNodes)
	}
	if o.readyFile != "" {
		if err := os.WriteFile(o.readyFile, []byte("ready\n"), 0o644); err != nil {
			return err
		}
	}
	<-ctx.Done()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		plane.printFailure()
		return cause
	}
	return nil
}

// watchParent ends the run when the process that started testplane goes away, so a killed
// test run never leaves a control plane behind.
func watchParent(ctx context.Context, cancel context.CancelCauseFunc) {
	parent := os.Getppid()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != parent {
				cancel(context.Canceled)
				return
			}
		}
	}
}
