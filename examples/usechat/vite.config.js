// The dev server proxies /api to `aichatflow serve`, so the page and the API share one origin
// (no CORS set-up needed). AICHATFLOW_URL points it elsewhere.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const target = process.env.AICHATFLOW_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  server: { port: 5173, proxy: { "/api": { target, changeOrigin: true } } },
});
