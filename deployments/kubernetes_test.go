package deployments_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/servercheck/uptime/pkg/stream"
)

// kustomizeDir is the kustomize tree, seen from this module's directory.
const kustomizeDir = "kubernetes"

// autoscaler is what scales the checkers in a rendered tree.
type autoscaler string

const (
	noAutoscaler autoscaler = "none"
	keda         autoscaler = "keda"
	cpuHPA       autoscaler = "hpa"
)

// trees are the renderable kustomizations and the autoscaler each must pick:
// the base has none, each overlay exactly one.
var trees = map[string]autoscaler{
	"base":                noAutoscaler,
	"overlays/keda":       keda,
	"overlays/hpa":        cpuHPA,
	"overlays/production": keda,
}

// scaledObject is the part of a KEDA ScaledObject the tests read (KEDA's Go
// types would pull in its whole operator).
type scaledObject struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Name     string            `json:"name"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// rendered is one kustomization built with the kustomize Go API (what
// `kubectl kustomize` runs), parsed into typed objects.
type rendered struct {
	kinds         map[string]int
	namespaces    map[string]bool // namespaces of namespaced objects
	deployments   map[string]appsv1.Deployment
	services      map[string]corev1.Service
	pdbs          []policyv1.PodDisruptionBudget
	configMaps    map[string]corev1.ConfigMap
	secrets       map[string]corev1.Secret
	jobs          map[string]batchv1.Job
	ingresses     map[string]networkingv1.Ingress
	netpols       []networkingv1.NetworkPolicy
	hpas          map[string]autoscalingv2.HorizontalPodAutoscaler
	scaledObjects map[string]scaledObject
}

type renderResult struct {
	once sync.Once
	r    *rendered
	err  error
}

var renders sync.Map // tree -> *renderResult

// render builds tree once per test binary and parses every object.
func render(t *testing.T, tree string) *rendered {
	t.Helper()
	v, _ := renders.LoadOrStore(tree, &renderResult{})
	res := v.(*renderResult)
	res.once.Do(func() { res.r, res.err = build(tree) })
	require.NoError(t, res.err, "kustomize build %s", tree)
	return res.r
}

func build(tree string) (*rendered, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(kustomizeDir, tree))
	if err != nil {
		return nil, err
	}
	r := &rendered{
		kinds: map[string]int{}, namespaces: map[string]bool{},
		deployments: map[string]appsv1.Deployment{}, services: map[string]corev1.Service{},
		configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{},
		jobs: map[string]batchv1.Job{}, ingresses: map[string]networkingv1.Ingress{},
		hpas: map[string]autoscalingv2.HorizontalPodAutoscaler{}, scaledObjects: map[string]scaledObject{},
	}
	for _, res := range resMap.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			return nil, err
		}
		kind, name := res.GetKind(), res.GetName()
		r.kinds[kind]++
		if kind != "Namespace" {
			r.namespaces[res.GetNamespace()] = true
		}
		switch kind {
		case "Deployment":
			err = decode(doc, r.deployments, name)
		case "Service":
			err = decode(doc, r.services, name)
		case "ConfigMap":
			err = decode(doc, r.configMaps, name)
		case "Secret":
			err = decode(doc, r.secrets, name)
		case "Job":
			err = decode(doc, r.jobs, name)
		case "Ingress":
			err = decode(doc, r.ingresses, name)
		case "HorizontalPodAutoscaler":
			err = decode(doc, r.hpas, name)
		case "PodDisruptionBudget":
			var pdb policyv1.PodDisruptionBudget
			err = yaml.UnmarshalStrict(doc, &pdb)
			r.pdbs = append(r.pdbs, pdb)
		case "NetworkPolicy":
			var np networkingv1.NetworkPolicy
			err = yaml.UnmarshalStrict(doc, &np)
			r.netpols = append(r.netpols, np)
		case "ScaledObject":
			// Not strict: only the fields the tests read are modelled.
			var so scaledObject
			err = yaml.Unmarshal(doc, &so)
			r.scaledObjects[name] = so
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", kind, name, err)
		}
	}
	return r, nil
}

// decode parses doc strictly (an unknown or misspelt field fails) into m[name].
func decode[T any](doc []byte, m map[string]T, name string) error {
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		return err
	}
	m[name] = v
	return nil
}

// workloads are the five Deployments, by the Dockerfile TARGET each runs.
var workloads = map[string]string{
	"api":        "services/api",
	"scheduler":  "services/scheduler",
	"checker":    "services/checker",
	"log-writer": "services/log-writer",
	"notifier":   "services/notifier",
}

// runtimeVars are read by the Go runtime, not by a service's config.
var runtimeVars = map[string]bool{"GOMEMLIMIT": true}

func (r *rendered) deployment(t *testing.T, name string) appsv1.Deployment {
	t.Helper()
	d, ok := r.deployments[name]
	require.True(t, ok, "no Deployment %s", name)
	return d
}

// onlyContainer returns the single container of a pod.
func onlyContainer(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	require.Len(t, spec.Containers, 1)
	return spec.Containers[0]
}

// containerEnv resolves a container's environment the way the kubelet does
// (envFrom first, then env), failing on a reference to a ConfigMap, Secret or
// key that is not rendered (unless marked optional). Downward-API values
// resolve to "".
func (r *rendered) containerEnv(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	secretValue := func(name, key string, optional bool) (string, bool) {
		s, ok := r.secrets[name]
		if !ok {
			assert.True(t, optional, "%s refers to Secret %s, which is not rendered", c.Name, name)
			return "", false
		}
		if v, ok := s.StringData[key]; ok {
			return v, true
		}
		if v, ok := s.Data[key]; ok {
			return string(v), true
		}
		assert.True(t, optional, "%s refers to key %s missing from Secret %s", c.Name, key, name)
		return "", false
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := r.configMaps[from.ConfigMapRef.Name]
			require.True(t, ok, "%s refers to ConfigMap %s, which is not rendered", c.Name, from.ConfigMapRef.Name)
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			s, ok := r.secrets[from.SecretRef.Name]
			require.True(t, ok, "%s refers to Secret %s, which is not rendered", c.Name, from.SecretRef.Name)
			for k, v := range s.StringData {
				env[from.Prefix+k] = v
			}
			for k, v := range s.Data {
				env[from.Prefix+k] = string(v)
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if v, ok := secretValue(ref.Name, ref.Key, ref.Optional != nil && *ref.Optional); ok {
				env[e.Name] = v
			} else {
				env[e.Name] = ""
			}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := r.configMaps[ref.Name]
			require.True(t, ok, "%s refers to ConfigMap %s, which is not rendered", c.Name, ref.Name)
			env[e.Name] = cm.Data[ref.Key]
		default:
			env[e.Name] = ""
		}
	}
	return env
}

// containerPort resolves a probe's or Service's port against c's ports.
func containerPort(t *testing.T, c corev1.Container, port intstr.IntOrString) int {
	t.Helper()
	if port.Type == intstr.Int {
		return port.IntValue()
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort)
		}
	}
	require.Failf(t, "unknown port name", "%s has no port named %q", c.Name, port.StrVal)
	return 0
}

func selects(t *testing.T, selector *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	require.NotNil(t, selector)
	sel, err := metav1.LabelSelectorAsSelector(selector)
	require.NoError(t, err)
	return !sel.Empty() && sel.Matches(labels.Set(podLabels))
}

// durationMS reads a millisecond setting from env, or its default in source.
func durationMS(t *testing.T, cfg commandConfig, env map[string]string, name string) int {
	t.Helper()
	v, ok := env[name]
	if !ok {
		v = cfg.Vars[name].Default
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s=%q", name, v)
	return n
}

func TestKustomizeTreesRender(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(filepath.Join(kustomizeDir, "overlays"))
	require.NoError(t, err)
	for _, e := range entries {
		t.Run("overlay "+e.Name()+" is covered by these tests", func(t *testing.T) {
			assert.Contains(t, trees, "overlays/"+e.Name())
		})
	}
	for tree := range trees {
		t.Run(tree+" renders every workload into one namespace", func(t *testing.T) {
			t.Parallel()
			r := render(t, tree)
			for name := range workloads {
				assert.Contains(t, r.deployments, name)
			}
			assert.Contains(t, r.jobs, "migrate")
			assert.Equal(t, 1, r.kinds["Namespace"])
			assert.Equal(t, map[string]bool{"servercheck": true}, r.namespaces)
		})
	}
}

func TestDeploymentsAreProbedOnTheirServicePort(t *testing.T) {
	t.Parallel()
	for tree := range trees {
		for name, target := range workloads {
			t.Run(tree+": "+name+" is probed on /health/liveness and /health/readiness of its port", func(t *testing.T) {
				t.Parallel()
				r := render(t, tree)
				c := onlyContainer(t, r.deployment(t, name).Spec.Template.Spec)
				cfg := readConfig(t, target)
				port := cfg.port(t, r.containerEnv(t, c))
				require.Len(t, c.Ports, 1)
				assert.Equal(t, port, int(c.Ports[0].ContainerPort), "containerPort vs %s", cfg.PortVar)
				for probe, path := range map[string]string{"liveness": "/health/liveness", "readiness": "/health/readiness"} {
					p := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}[probe]
					require.NotNil(t, p, "%s probe", probe)
					require.NotNil(t, p.HTTPGet, "%s probe is not an HTTP GET", probe)
					assert.Equal(t, path, p.HTTPGet.Path)
					assert.Equal(t, port, containerPort(t, c, p.HTTPGet.Port), "%s probe port", probe)
				}
			})
		}
	}
}

func TestDeploymentsHaveRequestsAndLimits(t *testing.T) {
	t.Parallel()
	r := render(t, "base")
	containers := map[string]corev1.Container{"migrate": onlyContainer(t, r.jobs["migrate"].Spec.Template.Spec)}
	for name := range workloads {
		containers[name] = onlyContainer(t, r.deployment(t, name).Spec.Template.Spec)
	}
	for name, c := range containers {
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			t.Run(name+" requests and limits "+string(res), func(t *testing.T) {
				t.Parallel()
				req, hasReq := c.Resources.Requests[res]
				limit, hasLimit := c.Resources.Limits[res]
				require.True(t, hasReq, "no %s request", res)
				require.True(t, hasLimit, "no %s limit", res)
				assert.Positive(t, req.Sign())
				assert.LessOrEqual(t, req.Cmp(limit), 0, "request %s above limit %s", req.String(), limit.String())
			})
		}
	}
}

func TestPodsRunAsNonRootOnAReadOnlyRoot(t *testing.T) {
	t.Parallel()
	r := render(t, "overlays/production")
	pods := map[string]corev1.PodSpec{"migrate": r.jobs["migrate"].Spec.Template.Spec}
	for name := range workloads {
		pods[name] = r.deployment(t, name).Spec.Template.Spec
	}
	for name, pod := range pods {
		t.Run(name+" runs as a non-root user without privileges or a writable root", func(t *testing.T) {
			t.Parallel()
			psc := pod.SecurityContext
			require.NotNil(t, psc)
			require.NotNil(t, psc.RunAsNonRoot)
			assert.True(t, *psc.RunAsNonRoot)
			require.NotNil(t, psc.RunAsUser, "a numeric user lets the kubelet verify runAsNonRoot")
			assert.Positive(t, *psc.RunAsUser)
			require.NotNil(t, psc.SeccompProfile)
			assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type)
			require.NotNil(t, pod.AutomountServiceAccountToken)
			assert.False(t, *pod.AutomountServiceAccountToken, "no service needs the Kubernetes API")
			sc := onlyContainer(t, pod).SecurityContext
			require.NotNil(t, sc)
			require.NotNil(t, sc.ReadOnlyRootFilesystem)
			assert.True(t, *sc.ReadOnlyRootFilesystem)
			require.NotNil(t, sc.AllowPrivilegeEscalation)
			assert.False(t, *sc.AllowPrivilegeEscalation)
			require.NotNil(t, sc.Capabilities)
			assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
		})
	}
}

func TestPodsOutliveTheirGracefulShutdown(t *testing.T) {
	t.Parallel()
	for tree := range trees {
		for name, target := range workloads {
			t.Run(tree+": "+name+"'s grace period exceeds SHUTDOWN_TIMEOUT_MS", func(t *testing.T) {
				t.Parallel()
				r := render(t, tree)
				pod := r.deployment(t, name).Spec.Template.Spec
				env := r.containerEnv(t, onlyContainer(t, pod))
				cfg := readConfig(t, target)
				shutdown := durationMS(t, cfg, env, "SHUTDOWN_TIMEOUT_MS")
				drain := durationMS(t, cfg, env, "SHUTDOWN_DRAIN_DELAY_MS")
				require.NotNil(t, pod.TerminationGracePeriodSeconds)
				grace := int(*pod.TerminationGracePeriodSeconds) * 1000
				assert.Greater(t, grace, shutdown, "terminationGracePeriodSeconds vs SHUTDOWN_TIMEOUT_MS")
				assert.Less(t, drain, shutdown, "the drain delay is part of the shutdown")
			})
		}
	}
}

func TestContainersGetOnlyVariablesTheirServiceReads(t *testing.T) {
	t.Parallel()
	for tree := range trees {
		targets := map[string]string{"migrate": "db/cmd/migrate"}
		for name, target := range workloads {
			targets[name] = target
		}
		for name, target := range targets {
			t.Run(tree+": "+name+" reads every variable set for it", func(t *testing.T) {
				t.Parallel()
				r := render(t, tree)
				var pod corev1.PodSpec
				if name == "migrate" {
					pod = r.jobs["migrate"].Spec.Template.Spec
				} else {
					pod = r.deployment(t, name).Spec.Template.Spec
				}
				read := readConfig(t, target).Vars
				env := r.containerEnv(t, onlyContainer(t, pod))
				for v := range env {
					if !runtimeVars[v] {
						assert.Contains(t, read, v, "%s gets %s, which %s never reads", name, v, target)
					}
				}
				for v, spec := range read {
					if v == "DATABASE_URL" || v == "REDIS_HOST" {
						assert.NotEmpty(t, env[v], "%s gets no %s (default %q)", name, v, spec.Default)
					}
				}
			})
		}
	}
}

func TestSecretsAreReadFromTheSecretOnly(t *testing.T) {
	t.Parallel()
	secretVars := []string{"DATABASE_URL", "REDIS_PASSWORD", "MONITOR_SECRETS_KEY", "MONITOR_SECRETS_OLD_KEYS",
		"GMAIL_APP_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}
	r := render(t, "overlays/production")
	for _, cm := range r.configMaps {
		t.Run("ConfigMap "+cm.Name+" holds no secret", func(t *testing.T) {
			t.Parallel()
			for _, v := range secretVars {
				assert.NotContains(t, cm.Data, v)
			}
		})
	}
	t.Run("the base Secret holds placeholders only, marked as such", func(t *testing.T) {
		t.Parallel()
		s, ok := r.secrets["servercheck-secrets"]
		require.True(t, ok)
		assert.Contains(t, s.Annotations["servercheck.io/placeholder"], "CHANGE-ME")
		require.NotEmpty(t, s.StringData)
		for k, v := range s.StringData {
			assert.Contains(t, v, "CHANGE-ME", "%s does not look like a placeholder", k)
		}
	})
	t.Run("the api and the checker use one monitor secrets key", func(t *testing.T) {
		t.Parallel()
		ref := func(name string) *corev1.SecretKeySelector {
			for _, e := range onlyContainer(t, r.deployment(t, name).Spec.Template.Spec).Env {
				if e.Name == "MONITOR_SECRETS_KEY" && e.ValueFrom != nil {
					return e.ValueFrom.SecretKeyRef
				}
			}
			return nil
		}
		require.NotNil(t, ref("api"))
		assert.Equal(t, ref("api"), ref("checker"))
	})
}

func TestEveryDeploymentHasADisruptionBudgetAndAService(t *testing.T) {
	t.Parallel()
	for tree := range trees {
		for name := range workloads {
			t.Run(tree+": "+name+" has one PodDisruptionBudget that lets a pod go", func(t *testing.T) {
				t.Parallel()
				r := render(t, tree)
				podLabels := r.deployment(t, name).Spec.Template.Labels
				var matching []policyv1.PodDisruptionBudget
				for _, pdb := range r.pdbs {
					if selects(t, pdb.Spec.Selector, podLabels) {
						matching = append(matching, pdb)
					}
				}
				require.Len(t, matching, 1)
				if mu := matching[0].Spec.MaxUnavailable; mu != nil {
					assert.Positive(t, mu.IntValue())
				} else {
					assert.NotNil(t, matching[0].Spec.MinAvailable)
				}
			})
			t.Run(tree+": "+name+" has a Service on its port, annotated for scraping", func(t *testing.T) {
				t.Parallel()
				r := render(t, tree)
				d := r.deployment(t, name)
				c := onlyContainer(t, d.Spec.Template.Spec)
				svc, ok := r.services[name]
				require.True(t, ok, "no Service %s", name)
				assert.True(t, selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, d.Spec.Template.Labels))
				require.Len(t, svc.Spec.Ports, 1)
				port := containerPort(t, c, svc.Spec.Ports[0].TargetPort)
				assert.Equal(t, int(c.Ports[0].ContainerPort), port)
				for _, annotations := range []map[string]string{svc.Annotations, d.Spec.Template.Annotations} {
					assert.Equal(t, "true", annotations["prometheus.io/scrape"])
					assert.Equal(t, strconv.Itoa(port), annotations["prometheus.io/port"])
					assert.Equal(t, "/metrics", annotations["prometheus.io/path"])
				}
			})
		}
	}
}

func TestMigrationsRunAsAJob(t *testing.T) {
	t.Parallel()
	for tree := range trees {
		t.Run(tree+": the migrate Job applies every pending migration once", func(t *testing.T) {
			t.Parallel()
			r := render(t, tree)
			job, ok := r.jobs["migrate"]
			require.True(t, ok)
			pod := job.Spec.Template.Spec
			c := onlyContainer(t, pod)
			assert.Contains(t, c.Image, "servercheck/migrate")
			require.NotEmpty(t, c.Args)
			assert.Equal(t, "up", c.Args[len(c.Args)-1])
			assert.Contains(t, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}, pod.RestartPolicy)
			require.NotNil(t, job.Spec.BackoffLimit)
			assert.NotNil(t, job.Spec.ActiveDeadlineSeconds, "a stuck migration must end")
			assert.NotEmpty(t, r.containerEnv(t, c)["DATABASE_URL"])
		})
	}
}

// egressAllows reports whether an ipBlock of policy lets pods reach ip
// (port aside). A rule with no peers allows everything.
func egressAllows(np networkingv1.NetworkPolicy, ip netip.Addr) bool {
	for _, rule := range np.Spec.Egress {
		if len(rule.To) == 0 {
			return true
		}
		for _, peer := range rule.To {
			if peer.IPBlock == nil || !prefixContains(peer.IPBlock.CIDR, ip) {
				continue
			}
			if !slices.ContainsFunc(peer.IPBlock.Except, func(cidr string) bool { return prefixContains(cidr, ip) }) {
				return true
			}
		}
	}
	return false
}

func prefixContains(cidr string, ip netip.Addr) bool {
	p, err := netip.ParsePrefix(cidr)
	return err == nil && p.Contains(ip)
}

func TestCheckersCannotReachClusterInternalAddresses(t *testing.T) {
	t.Parallel()
	for tree := range trees {
		r := render(t, tree)
		checkerPods := r.deployment(t, "checker").Spec.Template.Labels
		var policies []networkingv1.NetworkPolicy
		for _, np := range r.netpols {
			if selects(t, &np.Spec.PodSelector, checkerPods) {
				policies = append(policies, np)
			}
		}
		require.Len(t, policies, 1, "%s: one NetworkPolicy selects the checkers", tree)
		np := policies[0]
		t.Run(tree+": the policy restricts the checkers' egress", func(t *testing.T) {
			assert.Contains(t, np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
			for _, rule := range np.Spec.Egress {
				assert.NotEmpty(t, rule.To, "an egress rule without peers allows every address")
			}
		})
		internal := []string{
			"10.0.0.1", "10.96.0.1", "172.16.0.10", "172.31.255.254", "192.168.1.1", "100.64.0.1",
			"169.254.169.254", "127.0.0.1", "0.0.0.0", "fd00::1", "fe80::1", "::1", "2002:a00:1::1",
		}
		for _, ip := range internal {
			t.Run(tree+": a checker cannot reach "+ip, func(t *testing.T) {
				assert.False(t, egressAllows(np, netip.MustParseAddr(ip)))
			})
		}
		for _, ip := range []string{"1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"} {
			t.Run(tree+": a checker can reach the public address "+ip, func(t *testing.T) {
				assert.True(t, egressAllows(np, netip.MustParseAddr(ip)))
			})
		}
		t.Run(tree+": a checker can resolve names and reach Redis", func(t *testing.T) {
			redisPort, err := strconv.Atoi(r.containerEnv(t, onlyContainer(t, r.deployment(t, "checker").Spec.Template.Spec))["REDIS_PORT"])
			require.NoError(t, err)
			has := func(proto corev1.Protocol, port int) bool {
				for _, rule := range np.Spec.Egress {
					for _, p := range rule.Ports {
						if p.Protocol != nil && *p.Protocol == proto && p.Port != nil && p.Port.IntValue() == port {
							return len(rule.To) > 0 && rule.To[0].IPBlock == nil
						}
					}
				}
				return false
			}
			assert.True(t, has(corev1.ProtocolUDP, 53), "DNS over UDP")
			assert.True(t, has(corev1.ProtocolTCP, 53), "DNS over TCP")
			assert.True(t, has(corev1.ProtocolTCP, redisPort), "Redis on REDIS_PORT %d", redisPort)
		})
	}
}

func TestCheckersScaleWithOneAutoscaler(t *testing.T) {
	t.Parallel()
	for tree, want := range trees {
		t.Run(tree+" scales the checkers with "+string(want), func(t *testing.T) {
			t.Parallel()
			r := render(t, tree)
			checker := r.deployment(t, "checker")
			switch want {
			case noAutoscaler:
				assert.Empty(t, r.scaledObjects)
				assert.Empty(t, r.hpas)
				require.NotNil(t, checker.Spec.Replicas)
				assert.GreaterOrEqual(t, *checker.Spec.Replicas, int32(2))
			case keda:
				assert.Empty(t, r.hpas, "KEDA creates its own HPA; a second one would fight it")
				assert.Len(t, r.scaledObjects, 1)
				assert.Nil(t, checker.Spec.Replicas, "the autoscaler owns the replica count")
			case cpuHPA:
				assert.Empty(t, r.scaledObjects)
				require.Len(t, r.hpas, 1)
				assert.Nil(t, checker.Spec.Replicas, "the autoscaler owns the replica count")
				for _, hpa := range r.hpas {
					assert.Equal(t, "Deployment", hpa.Spec.ScaleTargetRef.Kind)
					assert.Equal(t, "checker", hpa.Spec.ScaleTargetRef.Name)
					require.NotNil(t, hpa.Spec.MinReplicas)
					assert.GreaterOrEqual(t, *hpa.Spec.MinReplicas, int32(2))
					require.Len(t, hpa.Spec.Metrics, 1)
					require.NotNil(t, hpa.Spec.Metrics[0].Resource)
					assert.Equal(t, corev1.ResourceCPU, hpa.Spec.Metrics[0].Resource.Name)
				}
			}
		})
	}
}

func TestKEDAScalesCheckersOnTheJobsStream(t *testing.T) {
	t.Parallel()
	group := goConstant(t, "services/checker/internal/worker", "Group")
	for tree, scaler := range trees {
		if scaler != keda {
			continue
		}
		r := render(t, tree)
		so, ok := r.scaledObjects["checker"]
		require.True(t, ok, "%s: no ScaledObject checker", tree)
		c := onlyContainer(t, r.deployment(t, "checker").Spec.Template.Spec)
		env := r.containerEnv(t, c)
		cfg := readConfig(t, workloads["checker"])
		prefix, ok := env["REDIS_KEY_PREFIX"]
		if !ok {
			prefix = cfg.Vars["REDIS_KEY_PREFIX"].Default
		}
		jobs := stream.NewKeyspace(prefix).Key(stream.Jobs)
		concurrency, err := strconv.Atoi(env["CHECKER_CONCURRENCY"])
		require.NoError(t, err)

		t.Run(tree+": the ScaledObject targets the checker Deployment", func(t *testing.T) {
			assert.Equal(t, "Deployment", so.Spec.ScaleTargetRef.Kind)
			assert.Equal(t, "checker", so.Spec.ScaleTargetRef.Name)
			require.NotNil(t, so.Spec.MinReplicaCount)
			assert.GreaterOrEqual(t, *so.Spec.MinReplicaCount, int32(2))
			require.NotNil(t, so.Spec.MaxReplicaCount)
			assert.Greater(t, *so.Spec.MaxReplicaCount, *so.Spec.MinReplicaCount)
		})
		t.Run(tree+": every trigger reads the jobs stream "+jobs+" of group "+group, func(t *testing.T) {
			require.NotEmpty(t, so.Spec.Triggers)
			for _, tr := range so.Spec.Triggers {
				assert.Equal(t, "redis-streams", tr.Type)
				assert.Equal(t, jobs, tr.Metadata["stream"])
				assert.Equal(t, group, tr.Metadata["consumerGroup"])
				for _, key := range []string{"hostFromEnv", "portFromEnv", "passwordFromEnv"} {
					assert.Contains(t, env, tr.Metadata[key], "%s names a variable the checker does not have", key)
				}
				assert.Equal(t, env["REDIS_DB"], tr.Metadata["databaseIndex"])
			}
		})
		t.Run(tree+": the pending-entries target is reachable below CHECKER_CONCURRENCY", func(t *testing.T) {
			var pending int
			for _, tr := range so.Spec.Triggers {
				if v, ok := tr.Metadata["pendingEntriesCount"]; ok {
					pending, err = strconv.Atoi(v)
					require.NoError(t, err)
				}
			}
			require.Positive(t, pending, "no trigger scales on pending entries")
			// A checker holds at most CHECKER_CONCURRENCY entries pending: a
			// target at or above it would never ask for another replica.
			assert.Less(t, pending, concurrency)
		})
	}
}

func TestIngressRoutesToTheAPI(t *testing.T) {
	t.Parallel()
	for tree := range trees {
		t.Run(tree+": the Ingress sends every path to the api Service's port", func(t *testing.T) {
			t.Parallel()
			r := render(t, tree)
			require.Len(t, r.ingresses, 1)
			api := r.deployment(t, "api")
			for _, ing := range r.ingresses {
				require.NotEmpty(t, ing.Spec.Rules)
				for _, rule := range ing.Spec.Rules {
					assert.NotEmpty(t, rule.Host)
					require.NotNil(t, rule.HTTP)
					for _, p := range rule.HTTP.Paths {
						backend := p.Backend.Service
						require.NotNil(t, backend)
						assert.Equal(t, "api", backend.Name)
						svc, ok := r.services[backend.Name]
						require.True(t, ok)
						assert.True(t, selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, api.Spec.Template.Labels))
						assert.True(t, slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
							return sp.Name == backend.Port.Name && backend.Port.Name != "" || sp.Port == backend.Port.Number && backend.Port.Number != 0
						}), "the Service has no port %v", backend.Port)
					}
				}
			}
		})
	}
	t.Run("production serves the api over TLS for its host", func(t *testing.T) {
		t.Parallel()
		ing := render(t, "overlays/production").ingresses["api"]
		require.NotNil(t, ing.Spec.IngressClassName)
		require.Len(t, ing.Spec.TLS, 1)
		assert.Equal(t, []string{ing.Spec.Rules[0].Host}, ing.Spec.TLS[0].Hosts)
		assert.NotEmpty(t, ing.Spec.TLS[0].SecretName)
	})
}

func TestProductionRunsPinnedImagesInProductionMode(t *testing.T) {
	t.Parallel()
	r := render(t, "overlays/production")
	images := map[string]string{"migrate": onlyContainer(t, r.jobs["migrate"].Spec.Template.Spec).Image}
	for name := range workloads {
		images[name] = onlyContainer(t, r.deployment(t, name).Spec.Template.Spec).Image
	}
	for name, image := range images {
		t.Run(name+"'s image is pinned to a release", func(t *testing.T) {
			t.Parallel()
			repo, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
			require.True(t, ok, "%s has no tag", image)
			assert.Equal(t, name, repo)
			assert.NotEqual(t, "latest", tag)
		})
	}
	for _, name := range []string{"api", "checker"} {
		t.Run(name+" runs with NODE_ENV=production", func(t *testing.T) {
			t.Parallel()
			env := r.containerEnv(t, onlyContainer(t, r.deployment(t, name).Spec.Template.Spec))
			assert.Equal(t, "production", env["NODE_ENV"])
			assert.NotEqual(t, "true", env["DEV_ISSUER_ENABLED"])
		})
	}
	t.Run("the api verifies tokens of an https issuer", func(t *testing.T) {
		t.Parallel()
		env := r.containerEnv(t, onlyContainer(t, r.deployment(t, "api").Spec.Template.Spec))
		assert.True(t, strings.HasPrefix(env["COGNITO_ISSUER"], "https://"), env["COGNITO_ISSUER"])
		assert.NotEmpty(t, env["COGNITO_CLIENT_ID"])
	})
}
