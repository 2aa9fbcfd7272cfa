// A web-test-runner plugin that lets browser tests import React 19 by its package names ('react',
// 'react-dom/client', and 'react/jsx-runtime' for compiled JSX). React ships CommonJS only, which the
// dev server serves as it is and a browser cannot run as a module, so esbuild bundles the three into
// one ESM file (one copy of React: hooks break across two), and each name gets a small module that
// re-exports its part under the names React's own CommonJS module exports. Bundled on first request.
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';

const BUNDLE = '/__react/bundle.js';
/** Each name a test imports, as the module that stands for it, and the part of the bundle it re-exports. */
const ENTRIES = {
  react: { path: '/__react/react.js', part: 'React' },
  'react-dom/client': {
    path: '/__react/react-dom-client.js',
    part: 'ReactDOMClient',
  },
  'react/jsx-runtime': { path: '/__react/jsx-runtime.js', part: 'JSXRuntime' },
};
// Development builds: their warnings (a missing key, a getSnapshot that is not cached) name the mistake.
const MODE = 'development';

export function reactPlugin() {
  let bundle = null;
  const bundled = () =>
    (bundle ??= build({
      stdin: {
        contents: Object.entries(ENTRIES)
          .map(([name, { part }]) => `export * as ${part} from '${name}';`)
          .join('\n'),
        resolveDir: process.cwd(),
      },
      bundle: true,
      format: 'esm',
      write: false,
      define: { 'process.env.NODE_ENV': JSON.stringify(MODE) },
    }).then((result) => result.outputFiles[0].text));

  return {
    name: 'react-bundle',
    resolveImport({ source }) {
      return ENTRIES[source]?.path;
    },
    async serve(context) {
      if (context.path === BUNDLE) return { body: await bundled(), type: 'js' };
      const entry = Object.entries(ENTRIES).find(([, { path }]) => path === context.path);
      if (!entry) return undefined;
      const [name, { part }] = entry;
      const names = exportedNames(name);
      const body = [
        `import { ${part} } from '${BUNDLE}';`,
        `export default ${part};`,
        `export const { ${names.join(', ')} } = ${part};`,
      ].join('\n');
      return { body, type: 'js' };
    },
  };
}

/**
 * The names a React package's CommonJS module exports. Read in a child process: loading React's
 * development build patches `console`, which breaks the test runner's own.
 */
function exportedNames(name) {
  const script = `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(name)}))))`;
  const names = JSON.parse(
    execFileSync(process.execPath, ['-e', script], {
      env: { ...process.env, NODE_ENV: MODE },
      encoding: 'utf8',
    }),
  );
  return names.filter((key) => key !== 'default');
}
