# A local distributed cluster: N engine instances behind nginx (python -m bench.cluster).
# Included by the top-level Makefile.
CLUSTER_INSTANCES ?= 3
CLUSTER_WORKERS ?= 4
CLUSTER_PORT ?= 8080

.PHONY: cluster cluster-down cluster-status

cluster: install ## Start 3 instances on 127.0.0.1:8081-8083 behind nginx on :8080 (MariaDB + Redis)
	@$(MAKE) --no-print-directory -s dashboard-if-missing
	$(BIN)/python -m bench.cluster up --instances $(CLUSTER_INSTANCES) \
	  --workers $(CLUSTER_WORKERS) --port $(CLUSTER_PORT)

cluster-down: ## Stop exactly the processes `make cluster` started (recorded pids)
	$(BIN)/python -m bench.cluster down

cluster-status: ## Show the local cluster's processes and readiness
	$(BIN)/python -m bench.cluster status
