// custom-elements.json, the Custom Elements Manifest (https://github.com/webcomponents/custom-elements-manifest):
// each element's attributes, properties, events, slots, CSS parts and custom properties, read by
// @custom-elements-manifest/analyzer from the element modules' Lit decorators and JSDoc tags
// (@fires, @csspart, @cssprop). Editors, Storybook and framework wrappers find it through
// "customElements" in package.json. test/browser/custom-elements-manifest.browser.test.ts checks
// it against what the elements really observe and fire.
import fs from 'node:fs';
import path from 'node:path';
import { create, ts } from '@custom-elements-manifest/analyzer';
import { litPlugin } from '@custom-elements-manifest/analyzer/src/features/framework-plugins/lit/lit.js';

export const MANIFEST_FILE = 'custom-elements.json';

// The element modules (web-components/**/sov-*.ts) and the base class they inherit from
// (shared/sov-element.ts); not the styles beside them (sov-chat.styles.ts) nor the string tables.
const ELEMENT_MODULE = /(^|\/)sov-[\w-]+\.ts$/;

/**
 * Private members are the elements' internals (Lit's reactive state, handlers): nothing an app can
 * use. An element that declares its properties in `static properties` (the shell in the initial
 * download, without decorators) lists its private reactive state there too (`state: true`), which
 * the analyzer takes for attributes: a private field is never an attribute, so those go as well.
 */
const withoutPrivateMembers = {
  name: 'sov-without-private-members',
  packageLinkPhase({ customElementsManifest }) {
    for (const declaration of customElementsManifest.modules.flatMap((module) => module.declarations ?? [])) {
      const internal = new Set(
        (declaration.members ?? []).filter((member) => member.privacy === 'private').map((member) => member.name),
      );
      if (declaration.members) declaration.members = declaration.members.filter((member) => !internal.has(member.name));
      if (declaration.attributes)
        declaration.attributes = declaration.attributes.filter((attribute) => !internal.has(attribute.fieldName));
    }
  },
};

/**
 * `published` maps an element module's source (web-components/sov-chat/sov-chat.ts) to the entry the
 * package ships it as (dist/components/sov-chat.js): the tarball holds no TypeScript sources, and a
 * tool follows a module's path to import it. Other modules (the base class) point to their
 * declarations in dist/.
 */
export function writeCustomElementsManifest(published) {
  const files = fs
    .readdirSync('web-components', { recursive: true })
    .map((name) => path.posix.join('web-components', String(name).split(path.sep).join('/')))
    .filter((file) => ELEMENT_MODULE.test(file))
    .sort();
  const modules = files.map((file) =>
    ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true),
  );
  const manifest = create({
    modules,
    plugins: [...litPlugin(), withoutPrivateMembers],
  });
  const text = JSON.stringify(manifest, null, 2).replace(/"(web-components\/[\w/-]+)\.ts"/g, (_whole, source) =>
    JSON.stringify(published[`${source}.ts`] ?? `dist/${source}.d.ts`),
  );
  fs.writeFileSync(MANIFEST_FILE, `${text}\n`);
}
