#!/usr/bin/env node
// erofs-kit-lsp: the language server (dist/server.cjs), started through its V8 code cache by
// dist/launch.cjs (src/launch.ts).
import '../dist/launch.cjs';
