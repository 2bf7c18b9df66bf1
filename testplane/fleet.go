package main

import (
	"fmt"
	"os"
	"slices"

	"sigs.k8s.io/yaml"
)

// The fleet file is the simulator's format (backend/fleet-sim/src/spec.rs); testplane reads
// the parts a control plane needs and ignores what only Berth's registration uses (layer,
// environment, DR pair).
type fleetFile struct {
	Clusters []clusterSpec `json:"clusters"`
}

type clusterSpec struct {
	Name   string   `json:"name"`
	Region string   `json:"region"`
	Zones  []string `json:"zones"`
	Velero bool     `json:"velero"`
	// Kyverno's admission controller runs against the cluster (from --kyverno), with its CRDs.
	Kyverno        bool               `json:"kyverno"`
	NodePools      []nodePoolSpec     `json:"nodePools"`
	StorageClasses []storageClassSpec `json:"storageClasses"`
	Pods           []podLoadSpec      `json:"pods"`
	// Real control planes only: admission plugins enabled besides the defaults (e.g.
	// PodNodeSelector) or switched off, feature gates, and --runtime-config entries (e.g.
	// admissionregistration.k8s.io/v1/mutatingadmissionpolicies=false).
	AdmissionPlugins        []string        `json:"admissionPlugins"`
	DisableAdmissionPlugins []string        `json:"disableAdmissionPlugins"`
	FeatureGates            map[string]bool `json:"featureGates"`
	RuntimeConfig           []string        `json:"runtimeConfig"`
}

type nodePoolSpec struct {
	Name         string            `json:"name"`
	LabelKey     string            `json:"labelKey"`
	Nodes        int               `json:"nodes"`
	Ready        *int              `json:"ready"`
	InstanceType string            `json:"instanceType"`
	Allocatable  map[string]string `json:"allocatable"`
	Capacity     map[string]string `json:"capacity"`
	Labels       map[string]string `json:"labels"`
	Taints       []taintSpec       `json:"taints"`
}

type taintSpec struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Effect string `json:"effect"`
}

type storageClassSpec struct {
	Name                 string            `json:"name"`
	Provisioner          string            `json:"provisioner"`
	Parameters           map[string]string `json:"parameters"`
	ReclaimPolicy        string            `json:"reclaimPolicy"`
	VolumeBindingMode    string            `json:"volumeBindingMode"`
	AllowVolumeExpansion bool              `json:"allowVolumeExpansion"`
	Default              bool              `json:"default"`
}

type podLoadSpec struct {
	Pool      string `json:"pool"`
	Namespace string `json:"namespace"`
	PerNode   int    `json:"perNode"`
	CPU       string `json:"cpu"`
	Memory    string `json:"memory"`
}

func readFleet(path string, only []string) ([]clusterSpec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f fleetFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []clusterSpec
	for _, c := range f.Clusters {
		if len(only) > 0 && !slices.Contains(only, c.Name) {
			continue
		}
		if len(c.Zones) == 0 {
			return nil, fmt.Errorf("%s: cluster %s has no zones", path, c.Name)
		}
		for i := range c.NodePools {
			if c.NodePools[i].LabelKey == "" {
				c.NodePools[i].LabelKey = "node-pool"
			}
		}
		out = append(out, c)
	}
	for _, name := range only {
		if !slices.ContainsFunc(out, func(c clusterSpec) bool { return c.Name == name }) {
			return nil, fmt.Errorf("%s has no cluster %s", path, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no clusters", path)
	}
	return out, nil
}

// zone is the simulator's rule: short zone names are suffixes of the region.
func (c *clusterSpec) zone(n int) string {
	z := c.Zones[n%len(c.Zones)]
	if len(z) <= 2 {
		return c.Region + z
	}
	return z
}
