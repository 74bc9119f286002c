// Command helm-render renders a Helm chart the way `helm template` does: Go's text/template
// with sprig (the engine and function library helm itself uses) and helm's own additions
// re-created after helm's pkg/engine — include, tpl, required, fail, toYaml, fromYaml,
// fromYamlArray, toJson, fromJson, lookup — with .Values coalesced from values.yaml and each
// -f file, .Release, .Chart (from Chart.yaml), .Capabilities, .Files and .Template.
//
// There is no helm binary here; Debian packages this toolchain (golang-go,
// golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev), built in GOPATH mode.
//
// Output on stdout, JSON: {"values": <coalesced>, "files": [{"name", "content"}]}, one entry
// per rendered template (NOTES.txt included; partials "_*" not). A template that fails to
// parse or execute (fail, required, a nil pointer) → exit 1, helm's kind of message on stderr.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

type rendered struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

func main() {
	chartDir := flag.String("chart", "", "the chart's directory")
	release := flag.String("name", "release", "the release name")
	namespace := flag.String("namespace", "default", "the release namespace")
	kubeVersion := flag.String("kube-version", "v1.30.0", "the Kubernetes version .Capabilities reports")
	var files valueFiles
	flag.Var(&files, "f", "a values file merged over values.yaml (repeatable, later wins)")
	flag.Parse()
	out, err := render(*chartDir, files, *release, *namespace, *kubeVersion)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func render(chartDir string, files []string, release, namespace, kubeVersion string) (map[string]interface{}, error) {
	chart, err := readChart(chartDir)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(kubeVersion)
	if err != nil {
		return nil, err
	}
	if err := checkKubeVersion(chart, caps); err != nil {
		return nil, err
	}
	values, err := coalescedValues(chartDir, files)
	if err != nil {
		return nil, err
	}
	top := map[string]interface{}{
		"Values":       values,
		"Chart":        chart,
		"Capabilities": caps,
		"Files":        chartFiles(chartDir),
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
	}
	out, err := renderTemplates(chartDir, chart.Name, top)
	if err != nil {
		return nil, err
	}
	return map[string]interface{}{"values": values, "files": out}, nil
}

// chartMeta is Chart.yaml as helm exposes it: .Chart.Name, .Chart.AppVersion, …
type chartMeta struct {
	APIVersion   string                   `json:"apiVersion"`
	Name         string                   `json:"name"`
	Version      string                   `json:"version"`
	AppVersion   string                   `json:"appVersion"`
	Description  string                   `json:"description"`
	Type         string                   `json:"type"`
	KubeVersion  string                   `json:"kubeVersion"`
	Keywords     []string                 `json:"keywords"`
	Home         string                   `json:"home"`
	Sources      []string                 `json:"sources"`
	Icon         string                   `json:"icon"`
	Deprecated   bool                     `json:"deprecated"`
	Annotations  map[string]string        `json:"annotations"`
	Maintainers  []map[string]interface{} `json:"maintainers"`
	Dependencies []map[string]interface{} `json:"dependencies"`
}

func readChart(dir string) (*chartMeta, error) {
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	var meta chartMeta
	if err := yaml.UnmarshalStrict(data, &meta, yaml.DisallowUnknownFields); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if meta.Name == "" || meta.Version == "" {
		return nil, errors.New("Chart.yaml: name and version are required")
	}
	return &meta, nil
}

// kubeVersionInfo and apiVersions mirror helm's chartutil.Capabilities.
type kubeVersionInfo struct{ Version, Major, Minor, GitVersion string }

type apiVersions []string

// Has says whether the cluster serves this API version ("apps/v1") or resource ("apps/v1/Deployment").
func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type caps struct {
	KubeVersion kubeVersionInfo
	APIVersions apiVersions
}

func capabilities(version string) (*caps, error) {
	v, err := semver.NewVersion(version)
	if err != nil {
		return nil, fmt.Errorf("kube-version %q: %w", version, err)
	}
	return &caps{
		KubeVersion: kubeVersionInfo{Version: "v" + v.String(), Major: fmt.Sprint(v.Major()), Minor: fmt.Sprint(v.Minor()), GitVersion: "v" + v.String()},
		APIVersions: apiVersions{"v1", "apps/v1", "policy/v1", "autoscaling/v2", "monitoring.coreos.com/v1"},
	}, nil
}

// checkKubeVersion refuses a cluster outside Chart.yaml's kubeVersion, as helm does.
func checkKubeVersion(chart *chartMeta, c *caps) error {
	if chart.KubeVersion == "" {
		return nil
	}
	constraint, err := semver.NewConstraint(chart.KubeVersion)
	if err != nil {
		return fmt.Errorf("Chart.yaml kubeVersion %q: %w", chart.KubeVersion, err)
	}
	v, _ := semver.NewVersion(c.KubeVersion.Version)
	if !constraint.Check(v) {
		return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", chart.KubeVersion, c.KubeVersion.Version)
	}
	return nil
}

// coalescedValues: values.yaml, then each file over it — maps merged key by key, a null
// deleting the key, anything else replacing it (helm's coalescing for user values).
func coalescedValues(chartDir string, files []string) (map[string]interface{}, error) {
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		over, err := readYAMLMap(f)
		if err != nil {
			return nil, err
		}
		values = coalesce(values, over)
	}
	return values, nil
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

func coalesce(base, over map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		b, bok := out[k].(map[string]interface{})
		o, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = coalesce(b, o)
		} else {
			out[k] = v
		}
	}
	return out
}

// files is .Files: the chart's files by path relative to the chart (templates excluded by use, not by rule).
type files map[string][]byte

func (f files) Get(name string) string      { return string(f[name]) }
func (f files) GetBytes(name string) []byte { return f[name] }

func chartFiles(dir string) files {
	out := files{}
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err == nil {
			out[filepath.ToSlash(rel)] = data
		}
		return err
	})
	return out
}

// renderTemplates parses every file under templates/ into one set, as helm does, and runs
// each that is not a partial with its own .Template.
func renderTemplates(chartDir, chartName string, top map[string]interface{}) ([]rendered, error) {
	names, sources, err := readTemplates(chartDir, chartName)
	if err != nil {
		return nil, err
	}
	t := template.New("gotpl").Option("missingkey=zero")
	t.Funcs(funcMap(t))
	for _, name := range names {
		if _, err := t.New(name).Parse(sources[name]); err != nil {
			return nil, err
		}
	}
	basePath := chartName + "/templates"
	var out []rendered
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		vals := withTemplate(top, name, basePath)
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, vals); err != nil {
			return nil, err
		}
		out = append(out, rendered{Name: name, Content: strings.ReplaceAll(buf.String(), "<no value>", "")})
	}
	return out, nil
}

func readTemplates(chartDir, chartName string) ([]string, map[string]string, error) {
	root := filepath.Join(chartDir, "templates")
	sources := map[string]string{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		data, err := os.ReadFile(p)
		sources[chartName+"/templates/"+filepath.ToSlash(rel)] = string(data)
		return err
	})
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, sources, err
}

func withTemplate(top map[string]interface{}, name, basePath string) map[string]interface{} {
	vals := make(map[string]interface{}, len(top)+1)
	for k, v := range top {
		vals[k] = v
	}
	vals["Template"] = map[string]interface{}{"Name": name, "BasePath": basePath}
	return vals
}

// funcMap is sprig's text functions (without env access, as helm) plus helm's own.
func funcMap(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	const maxDepth = 1000
	depth := 0
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"required":      required,
		"fail":          func(msg string) (string, error) { return "", errors.New(msg) },
		// helm template has no cluster to ask: lookup finds nothing.
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"include": func(name string, data interface{}) (string, error) {
			if depth++; depth > maxDepth {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
			}
			defer func() { depth-- }()
			var buf strings.Builder
			err := t.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, vals interface{}) (string, error) {
			clone, err := t.Clone()
			if err != nil {
				return "", err
			}
			parsed, err := clone.New("tpl").Parse(text)
			if err != nil {
				return "", fmt.Errorf("cannot parse template %q: %w", text, err)
			}
			var buf strings.Builder
			err = parsed.Execute(&buf, vals)
			return strings.ReplaceAll(buf.String(), "<no value>", ""), err
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func required(msg string, v interface{}) (interface{}, error) {
	if v == nil {
		return nil, errors.New(msg)
	}
	if s, ok := v.(string); ok && s == "" {
		return nil, errors.New(msg)
	}
	return v, nil
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	var a []interface{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}
