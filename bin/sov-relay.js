#!/usr/bin/env node
// The relay is TypeScript; `npm install` (prepare) and `npm start` bundle it to dist/relay.js.
import '../dist/relay.js';
