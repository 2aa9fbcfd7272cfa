// Makes the dev server refuse chosen modules for a while, as a network that drops a lazy chunk's
// request would: a test page turns it on and off with the 'fail-module' server command
// ({ path, fail }), and every request for that path answers 503 meanwhile.
export function failingModules() {
  const failing = new Set();
  return {
    middleware: async (context, next) => {
      if (failing.has(context.path)) {
        context.status = 503;
        context.body = 'refused by the test (test/browser/failing-modules.mjs)';
        return;
      }
      await next();
    },
    plugin: {
      name: 'failing-modules',
      executeCommand({ command, payload }) {
        if (command !== 'fail-module') return undefined;
        if (payload.fail) failing.add(payload.path);
        else failing.delete(payload.path);
        return true;
      },
    },
  };
}
