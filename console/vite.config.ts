// Builds the console into the server crate's assets, where the binary embeds it (ADR 0009).
import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

export default defineConfig({
  base: '/ui/',
  plugins: [vue()],
  // `npm run dev` serves the source and sends API calls to a running server.
  server: {
    proxy: { '/api': process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:8080' },
  },
  build: {
    outDir: '../crates/switchyard-server/assets/console',
    emptyOutDir: true,
    // Everything is a file of our own origin: no data: URLs (the CSP allows none).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    target: 'es2022',
  },
  test: {
    include: ['src/**/*.test.ts'],
  },
})
