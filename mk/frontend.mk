# Dashboard (frontend/) targets; included by the top-level Makefile.
# Needs Node >= 20.19 and npm; e2e also needs Debian's chromium (installed on demand).

VENV ?= .venv
FRONTEND := frontend
FRONTEND_STAMP := $(FRONTEND)/node_modules/.skiplock-installed
DASHBOARD_INDEX := engine/skiplock/web/static/index.html
FRONTEND_SOURCES := $(shell find $(FRONTEND)/src -type f 2>/dev/null) \
	$(FRONTEND)/index.html $(FRONTEND)/vite.config.ts $(FRONTEND)/package-lock.json \
	$(wildcard $(FRONTEND)/tsconfig*.json)
CHROMIUM ?= /usr/bin/chromium
PLAYWRIGHT := cd $(FRONTEND) && CHROMIUM=$(CHROMIUM) SKIPLOCK_BIN=$(abspath $(VENV))/bin/skiplock \
	npx playwright test -c e2e/playwright.config.ts

.PHONY: frontend-install frontend-build frontend-typecheck frontend-test e2e screenshots frontend-clean

# npm ci only when package.json or the lock changed since the last install.
$(FRONTEND_STAMP): $(FRONTEND)/package.json $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && npm ci --no-audit --no-fund
	@touch $@

frontend-install: $(FRONTEND_STAMP) ## Install the dashboard's npm dependencies (npm ci; skipped when up to date)

# Vite empties engine/skiplock/web/static and writes a fresh index.html, so its age tells
# whether any source changed since the last build.
$(DASHBOARD_INDEX): $(FRONTEND_STAMP) $(FRONTEND_SOURCES)
	cd $(FRONTEND) && npm run build

frontend-build: $(DASHBOARD_INDEX) ## Build the dashboard into engine/skiplock/web/static (only when sources changed)

frontend-typecheck: $(FRONTEND_STAMP) ## Type-check the dashboard (tsc)
	cd $(FRONTEND) && npx tsc -b

frontend-test: $(FRONTEND_STAMP) ## Run the dashboard's component and unit tests (vitest)
	cd $(FRONTEND) && npx vitest run

$(CHROMIUM):
	apt-get update && apt-get install -y chromium

e2e: frontend-build $(CHROMIUM) ## Browser tests against a real `skiplock serve` (Playwright + Debian chromium)
	$(PLAYWRIGHT) --project=e2e

# The docs' images show the demo data alone, without the e2e background tasks.
screenshots: export E2E_BACKGROUND := 0
screenshots: frontend-build $(CHROMIUM) ## Refresh docs/images/*.png from a seeded `skiplock serve`
	$(PLAYWRIGHT) --project=screenshots

frontend-clean: ## Remove the dashboard build and node_modules
	rm -rf $(FRONTEND)/node_modules $(FRONTEND)/test-results engine/skiplock/web/static
