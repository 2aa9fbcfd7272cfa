// Makes the dev server refuse chosen modules for a while, as a network that drops a lazy chunk's
// request would: a test page turns it on and off with the 'fail-module' server command
// ({ path, fail }), and every request for that path answers 503 meanwhile. The modules it may be
// asked to refuse are named up front, and the asking page's cache is turned off: Chromium would
// otherwise hand the page a module that another test file's page loaded before, without asking.
export function failingModules(paths) {
  const refusable = new Set(paths);
  const failing = new Set();
  return {
    middleware: async (context, next) => {
      if (!refusable.has(context.path)) return next();
      if (failing.has(context.path)) {
        context.status = 503;
        context.body = 'refused by the test (test/browser/failing-modules.mjs)';
        return;
      }
      await next();
    },
    plugin: {
      name: 'failing-modules',
      async executeCommand({ command, payload, session }) {
        if (command !== 'fail-module') return undefined;
        await session.browser.getPage(session.id).setCacheEnabled(false);
        if (!refusable.has(payload.path))
          throw new Error(`${payload.path} is not among the modules failingModules() may refuse`);
        if (payload.fail) failing.add(payload.path);
        else failing.delete(payload.path);
        return true;
      },
    },
  };
}
