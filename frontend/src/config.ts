/**
 * Runtime configuration injected by the engine into index.html:
 * <script id="skiplock-config" type="application/json">{"basePath": "/prefix", "demo": false}</script>
 * A plain Vite build (or `npm run dev`) has no such tag, which means "served at /", no demo.
 */
export interface RuntimeConfig {
  /** Path prefix the dashboard is served under: "" or "/prefix" (no trailing slash). */
  basePath: string;
  /** basePath + "/api". */
  apiBase: string;
  /** The server offers demo data (SKIPLOCK_DEMO): show the Demo data controls. */
  demo: boolean;
}

export function normaliseBasePath(raw: string): string {
  const trimmed = raw.trim().replace(/\/+$/, '');
  if (trimmed === '') return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

export function readRuntimeConfig(doc: Document = document): RuntimeConfig {
  let basePath = '';
  let demo = false;
  const text = doc.getElementById('skiplock-config')?.textContent;
  if (text) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && 'basePath' in parsed) {
        const value = (parsed as { basePath: unknown }).basePath;
        if (typeof value === 'string') basePath = normaliseBasePath(value);
      }
      if (parsed && typeof parsed === 'object' && 'demo' in parsed) {
        demo = (parsed as { demo: unknown }).demo === true;
      }
    } catch {
      // A malformed tag is a server bug; the root path is the only safe guess.
    }
  }
  return { basePath, apiBase: `${basePath}/api`, demo };
}
