package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes `<cluster>` (Berth's ServiceAccount) and `<cluster>-admin` for
// every cluster; the first cluster's Berth context is the current one.
func writeKubeconfig(path string, p *pki, clusters []*cluster) error {
	cfg := clientcmdapi.NewConfig()
	for _, c := range clusters {
		name := c.spec.Name
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: c.url(), CertificateAuthorityData: p.caPEM}
		cfg.AuthInfos[name+"-berth"] = &clientcmdapi.AuthInfo{Token: c.berthToken}
		cfg.AuthInfos[name+"-admin"] = &clientcmdapi.AuthInfo{Token: p.adminToken}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name + "-berth"}
		cfg.Contexts[name+"-admin"] = &clientcmdapi.Context{Cluster: name, AuthInfo: name + "-admin"}
	}
	cfg.CurrentContext = clusters[0].spec.Name
	return clientcmd.WriteToFile(*cfg, path)
}

// The admin kubeconfig the controllers of one cluster use.
func writeAdminKubeconfig(path string, p *pki, c *cluster) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: c.url(), CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: p.adminToken}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, path)
}

// renderRBAC renders Berth's chart with Helm's own engine (release `berth` in
// `berth-system`, the chart's default values) and returns its ClusterRole template.
func renderRBAC(chartDir string) ([]byte, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	values, err := chartutil.ToRenderValues(ch, map[string]interface{}{}, chartutil.ReleaseOptions{
		Name: berthServiceAccount, Namespace: berthNamespace, IsInstall: true, Revision: 1,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	out, err := engine.Render(ch, values)
	if err != nil {
		return nil, err
	}
	var names []string
	for name := range out {
		if strings.HasSuffix(name, "/templates/clusterrole.yaml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) != 1 {
		return nil, fmt.Errorf("the chart has %d clusterrole.yaml templates", len(names))
	}
	return []byte(out[names[0]]), nil
}

func renderRBACCommand(args []string) error {
	fs := flag.NewFlagSet("render-rbac", flag.ExitOnError)
	chart := fs.String("chart", "", "Berth's Helm chart")
	_ = fs.Parse(args)
	if *chart == "" {
		usage()
	}
	out, err := renderRBAC(*chart)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}
