/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Relative asset URLs let the engine serve the dashboard under any path prefix; the
// server adds <base href="{prefix}/"> when it injects the runtime config, so deep links
// such as /prefix/tasks/42 still load ./assets/* from the prefix root.
export default defineConfig({
  base: './',
  plugins: [react()],
  build: {
    outDir: '../engine/skiplock/web/static',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    // `npm run dev` talks to a local `skiplock serve` on its default port.
    proxy: { '/api': { target: 'http://127.0.0.1:8080', changeOrigin: false } },
  },
  test: {
    globals: true,
    environment: 'jsdom',
    setupFiles: './src/test/setup.ts',
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    restoreMocks: true,
  },
});
