#!/usr/bin/env node
// The relay is TypeScript; the repository's build (`npm run build`, `npm start`) bundles it to relay/dist/relay.js.
import '../dist/relay.js';
