// The installed `ai` package that ui_client.mjs runs and schema_fields.mjs reads, for
// tests/clients/test_vercel_ai_sdk*.py.
//
// Why a module of its own: one client script serves every pinned major (ai@6 in this
// directory, ai@5 in ../node-ai5), so `ai` cannot be a static import, which Node would always
// resolve from here. AICHATFLOW_AI_SDK_DIR names the package directory whose node_modules holds
// the `ai` to run (default: this directory); the ESM build is imported from there, so its own
// dependencies (zod, @ai-sdk/*) resolve from that tree too, never a mix of two versions.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const sdkDir = resolve(process.env.AICHATFLOW_AI_SDK_DIR || here);

const require = createRequire(join(sdkDir, 'package.json'));

export const aiVersion = JSON.parse(readFileSync(require.resolve('ai/package.json'), 'utf8'))
  .version;

export const aiMajor = Number(aiVersion.split('.')[0]);

// The ESM build (dist/index.mjs), the file a bundler gives a front end.
export const aiDist = require.resolve('ai').replace(/index\.js$/, 'index.mjs');

export const ai = await import(pathToFileURL(aiDist).href);
