// The console is served by nginx at `/` on the same origin as both APIs (deploy/nginx/), so
// the build needs no API base URL. `npm run dev` proxies /api to a local nginx (MR_CONSOLE_URL).
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

const consoleUrl = process.env.MR_CONSOLE_URL ?? 'http://127.0.0.1:8088'

export default defineConfig({
  plugins: [vue()],
  build: {
    // One chunk per heavy library keeps the first page small and the build log quiet.
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          if (id.includes('node_modules/echarts') || id.includes('node_modules/zrender')) return 'echarts'
          if (id.includes('node_modules/element-plus')) return 'element-plus'
          return undefined
        },
      },
    },
  },
  server: { proxy: { '/api': { target: consoleUrl, changeOrigin: false } } },
})
