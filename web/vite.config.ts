/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

/**
 * Emits `dist/sw.js` from `sw/sw.js` with the list of built files to precache and a version
 * derived from their names (hashed), so a new build installs a new service worker.
 */
function serviceWorker(): Plugin {
  return {
    name: 'plansmith-service-worker',
    apply: 'build',
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle)
        .filter((name) => name.startsWith('assets/') && !name.endsWith('.map'))
        .sort();
      const precache = ['/index.html', ...files.map((f) => `/${f}`)];
      const version = createHash('sha256').update(precache.join('\n')).digest('hex').slice(0, 12);
      const source = readFileSync(new URL('./sw/sw.js', import.meta.url), 'utf8')
        .replace('self.__PRECACHE__', JSON.stringify(precache))
        .replace('__VERSION__', version);
      this.emitFile({ type: 'asset', fileName: 'sw.js', source });
    },
  };
}

/** Writes `.br` and `.gz` beside every text file so the server can send them precompressed. */
function precompress(): Plugin {
  return {
    name: 'plansmith-precompress',
    apply: 'build',
    enforce: 'post',
    // Last of all: Vite fills in chunks in its own generateBundle hooks (the preload helper of a
    // lazy import), and a copy compressed before that would be served with a placeholder in it.
    generateBundle: {
      order: 'post',
      handler(_options, bundle) {
        for (const [name, file] of Object.entries(bundle)) {
          if (!/\.(js|css|html|svg|json|webmanifest)$/.test(name)) continue;
          const data = Buffer.from(file.type === 'chunk' ? file.code : file.source);
          if (data.length < 512) continue;
          const br = brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
          this.emitFile({ type: 'asset', fileName: `${name}.br`, source: br });
          this.emitFile({ type: 'asset', fileName: `${name}.gz`, source: gzipSync(data, { level: 9 }) });
        }
      },
    },
  };
}

// `--mode e2e` builds the app with its end-to-end test hooks (src/lib/testHooks.ts) into
// dist-e2e, which only the Playwright tests serve; web/dist, the build the release binary
// embeds, never has them.
export default defineConfig(({ mode }) => ({
  plugins: [react(), serviceWorker(), precompress()],
  build: {
    outDir: mode === 'e2e' ? 'dist-e2e' : 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080', '/ofrep': 'http://127.0.0.1:8080' },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.{ts,tsx}'],
  },
}));
