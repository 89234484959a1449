// Package deploy_test checks the deployment files under deploy/ with the
// libraries the real tools are built on.
package deploy_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

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
