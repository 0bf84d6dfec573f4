// Package deployments holds no code: its tests check the deployment artifacts
// beside it (the root docker-compose.yml, the kustomize tree under kubernetes/,
// the Grafana dashboard and the Prometheus alert rules) against each other and
// against the services' Go source.
package deployments
