// Package deploy_test checks the deployment files under deploy/ with the
// libraries the real tools are built on.
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/config"
)

// TestCompose (issue 15): deploy/compose loads and validates with
// compose-go (what `docker compose` runs on), with the example .env: the
// database waits for health, migrate runs once before gatehouse, gatehouse
// runs unprivileged on a read-only root with no capabilities and a health
// check, only Caddy and loopback-bound ports are published, no secret is
// written in the file, and the environment it gives gatehouse is a valid
// gatehouse configuration.
func TestCompose(t *testing.T) {
	ctx := context.Background()
	opts, err := cli.NewProjectOptions([]string{"compose/compose.yaml"}, cli.WithWorkingDirectory("compose"), cli.WithEnvFiles("compose/.env.example"),
		cli.WithDotEnv, cli.WithName("gatehouse"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("compose-go refuses compose.yaml: %v", err)
	}
	svc := func(name string) types.ServiceConfig {
		t.Helper()
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		return s
	}
	pg, mig, gh, caddy := svc("postgres"), svc("migrate"), svc("gatehouse"), svc("caddy")
	svc("mailpit")
	if pg.HealthCheck == nil || len(pg.Ports) != 0 {
		t.Errorf("postgres: health check %v, published ports %v (want a check and none)", pg.HealthCheck, pg.Ports)
	}
	if !slices.Equal(mig.Command, types.ShellCommand{"migrate", "up"}) || mig.DependsOn["postgres"].Condition != types.ServiceConditionHealthy {
		t.Errorf("migrate: command %v, depends on %v", mig.Command, mig.DependsOn)
	}
	if gh.DependsOn["migrate"].Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("gatehouse starts before migrate has finished: %v", gh.DependsOn)
	}
	for _, s := range []types.ServiceConfig{mig, gh} {
		if !s.ReadOnly || s.User != "65532:65532" || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: read_only %v, user %q, cap_drop %v, security_opt %v", s.Name, s.ReadOnly, s.User, s.CapDrop, s.SecurityOpt)
		}
		if s.Build == nil || s.Build.Dockerfile != "deploy/container/Dockerfile" {
			t.Errorf("%s: built from %v", s.Name, s.Build)
		}
	}
	if gh.HealthCheck == nil || !slices.Contains(gh.HealthCheck.Test, "health") {
		t.Errorf("gatehouse health check: %v", gh.HealthCheck)
	}
	for _, s := range p.Services {
		for _, port := range s.Ports {
			if s.Name != "caddy" && port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s:%s beyond the host's loopback", s.Name, port.HostIP, port.Published)
			}
		}
	}
	if len(caddy.Ports) != 2 {
		t.Errorf("caddy ports: %v", caddy.Ports)
	}
	raw, err := os.ReadFile("compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	envExample, _ := os.ReadFile("compose/.env.example")
	for _, line := range strings.Split(string(envExample), "\n") {
		k, v, ok := strings.Cut(line, "=")
		secret := strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD")
		if ok && secret && !strings.HasPrefix(k, "#") && v != "" && strings.Contains(string(raw), v) {
			t.Errorf("compose.yaml holds the value of %s", k)
		}
	}
	// The environment compose gives gatehouse is a valid configuration.
	env := map[string]string{}
	for k, v := range gh.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	cfg, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := app.CheckConfig(cfg); err != nil {
		t.Errorf("the compose environment is not a valid configuration: %v", err)
	}
	if cfg.Issuer != "https://localhost" || !strings.HasPrefix(cfg.DatabaseURL, "postgres://gatehouse:") {
		t.Errorf("issuer %q, database %q", cfg.Issuer, cfg.DatabaseURL)
	}
}

// render runs the real Helm (helm.sh/helm/v4, a Go tool of this module: no
// network) on the chart and returns its documents by kind.
func render(t *testing.T, args ...string) map[string][][]byte {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "helm", "template", "gh", "./helm/gatehouse"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr.String())
	}
	docs := map[string][][]byte{}
	for _, doc := range strings.Split(string(out), "\n---") {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		var head struct{ Kind string }
		if err := json.Unmarshal(j, &head); err != nil || head.Kind == "" {
			continue // a comment-only document
		}
		docs[head.Kind] = append(docs[head.Kind], j)
	}
	return docs
}

// strict decodes a manifest into its Kubernetes type, refusing any field
// the type does not have.
func strict(t *testing.T, j []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(j))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("%T: %v\n%s", v, err, j)
	}
}

// TestHelmChart (issue 15): the chart lints, and renders with the default
// and the production values into manifests that decode strictly into the
// Kubernetes API types; the Deployment keeps two or more replicas through
// a rolling update, runs unprivileged on a read-only root with seccomp,
// probes /healthz and /readyz, drains before it stops and reads secrets
// only from the Secret; the migration Job is a pre-install/pre-upgrade
// hook; the PodDisruptionBudget, NetworkPolicy and helm test are there,
// and the production values add the Ingress with TLS, the autoscaler and
// the ServiceMonitor.
func TestHelmChart(t *testing.T) {
	if out, err := exec.Command("go", "tool", "helm", "lint", "--strict", "./helm/gatehouse").CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		production bool
	}{{"default values", nil, false}, {"production values", []string{"-f", "helm/gatehouse/values-production.yaml"}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			docs := render(t, tc.args...)
			for kind, want := range map[string]int{"Deployment": 1, "Service": 1, "ConfigMap": 1, "Job": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1, "Pod": 1, "ServiceAccount": 1} {
				if len(docs[kind]) != want {
					t.Errorf("%d %s, want %d", len(docs[kind]), kind, want)
				}
			}
			var dep appsv1.Deployment
			strict(t, docs["Deployment"][0], &dep)
			if !tc.production && (dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2) {
				t.Errorf("replicas %v, want at least 2", dep.Spec.Replicas)
			}
			if ru := dep.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("rolling update %+v, want maxUnavailable 0", ru)
			}
			pod := dep.Spec.Template.Spec
			checkPod(t, "Deployment", pod)
			c := pod.Containers[0]
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Errorf("probes: liveness %+v readiness %+v", c.LivenessProbe, c.ReadinessProbe)
			}
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
				t.Errorf("preStop %+v: pods must drain", c.Lifecycle)
			}
			if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil {
				t.Errorf("secrets come from %+v, want the Secret", c.EnvFrom)
			}
			for _, e := range c.Env {
				if strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "DATABASE_URL") {
					t.Errorf("%s is a value in the manifest", e.Name)
				}
			}
			if len(pod.TopologySpreadConstraints) == 0 || c.Resources.Limits.Memory().IsZero() {
				t.Error("no topology spread or no memory limit")
			}
			var cm corev1.ConfigMap
			strict(t, docs["ConfigMap"][0], &cm)
			for k, v := range cm.Data {
				if strings.Contains(v, "secrets:") || strings.Contains(v, "postgres://") {
					t.Errorf("ConfigMap %s holds a secret:\n%s", k, v)
				}
			}
			f := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(f, []byte(cm.Data["config.yaml"]), 0o600); err != nil {
				t.Fatal(err)
			}
			if cfg, err := config.Load(f, func(string) string { return "" }); err != nil {
				t.Errorf("the ConfigMap is not a gatehouse configuration: %v", err)
			} else if tc.production && cfg.Tracing.Exporter != "otlp-grpc" {
				t.Errorf("production config: %+v", cfg.Tracing)
			}
			var job batchv1.Job
			strict(t, docs["Job"][0], &job)
			if job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" || !slices.Equal(job.Spec.Template.Spec.Containers[0].Args, []string{"migrate", "up"}) {
				t.Errorf("migration Job: hook %q, args %v", job.Annotations["helm.sh/hook"], job.Spec.Template.Spec.Containers[0].Args)
			}
			checkPod(t, "Job", job.Spec.Template.Spec)
			var pdb policyv1.PodDisruptionBudget
			strict(t, docs["PodDisruptionBudget"][0], &pdb)
			if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 {
				t.Errorf("PDB %+v", pdb.Spec)
			}
			var np networkingv1.NetworkPolicy
			strict(t, docs["NetworkPolicy"][0], &np)
			var svc corev1.Service
			strict(t, docs["Service"][0], &svc)
			var test corev1.Pod
			strict(t, docs["Pod"][0], &test)
			if test.Annotations["helm.sh/hook"] != "test" || !slices.Contains(test.Spec.Containers[0].Args, "/.well-known/openid-configuration") {
				t.Errorf("helm test pod: %v %v", test.Annotations, test.Spec.Containers[0].Args)
			}
			checkPod(t, "test", test.Spec)
			if tc.production {
				var ing networkingv1.Ingress
				strict(t, docs["Ingress"][0], &ing)
				if len(ing.Spec.TLS) == 0 || ing.Spec.TLS[0].SecretName == "" {
					t.Error("production Ingress without TLS")
				}
				var hpa autoscalingv2.HorizontalPodAutoscaler
				strict(t, docs["HorizontalPodAutoscaler"][0], &hpa)
				if dep.Spec.Replicas != nil {
					t.Error("replicas set although the autoscaler owns them")
				}
				if len(docs["ServiceMonitor"]) != 1 {
					t.Error("no ServiceMonitor")
				}
			}
		})
	}
}

// checkPod asserts the hardening every pod of the chart has.
func checkPod(t *testing.T, what string, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s pod security context %+v", what, psc)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s container %s security context %+v", what, c.Name, sc)
		}
	}
}
