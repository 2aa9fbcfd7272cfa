/**
 * custom-elements.json (written by the build from the elements' decorators and JSDoc, see
 * scripts/manifest.mjs) against the elements as they really are in Chromium: the attributes each
 * observes (Lit computes observedAttributes from its @property declarations), the `sov-*` events
 * that leave it (those it fires and those of the elements it renders that it does not stop), the
 * parts it renders or exports, and the --sov-* custom properties its styles read. An attribute,
 * event, part or custom property left out of the JSDoc fails here, so editors and frameworks
 * never learn a smaller element than the real one.
 */
import { expect } from '@esm-bundle/chai';
import type { LitElement } from 'lit';
import { loadChatScreen, loadLogin, loadProfile } from '../../web-components/index.ts';

const ELEMENTS = ['sov-chat', 'sov-chat-room', 'sov-roster', 'sov-login', 'sov-profile', 'sov-avatar'];

interface Described {
  name: string;
  description?: string;
  default?: string;
  /** Set on attributes made from a property: the property's name. */
  fieldName?: string;
}

interface Declaration {
  kind: string;
  name: string;
  tagName?: string;
  customElement?: boolean;
  attributes?: Described[];
  events?: Described[];
  cssParts?: Described[];
  cssProperties?: Described[];
}

interface Manifest {
  modules: Array<{ path: string; declarations?: Declaration[] }>;
}

let manifest: Manifest;
const sources = new Map<string, string>();

function declarationOf(tag: string): {
  path: string;
  declaration: Declaration;
} {
  for (const module of manifest.modules) {
    const declaration = module.declarations?.find((candidate) => candidate.tagName === tag);
    if (declaration) return { path: module.path, declaration };
  }
  throw new Error(`<${tag}> is not in custom-elements.json`);
}

/** The element's module as the test server sends it (TypeScript compiled, the templates as written). */
async function sourceOf(tag: string): Promise<string> {
  const path = tag === 'sov-avatar' ? 'web-components/shared/sov-avatar.ts' : `web-components/${tag}/${tag}.ts`;
  if (!sources.has(path)) {
    // <sov-chat>'s chat screen is a module of its own (its chunk loads beside the connection).
    const modules = tag === 'sov-chat' ? [path, 'web-components/sov-chat/chat-screen.ts'] : [path];
    const texts = await Promise.all(
      modules.map(async (module) => {
        const response = await fetch(`/${module}`);
        expect(response.ok, `/${module}`).to.equal(true);
        return response.text();
      }),
    );
    sources.set(path, texts.join('\n'));
  }
  return sources.get(path)!;
}

function matches(source: string, pattern: RegExp): string[] {
  return [...source.matchAll(pattern)].map((match) => match[1]!);
}

/** Events that reach a listener on the element: its own, and its inner elements' unless it stops them. */
async function eventsLeaving(tag: string): Promise<Set<string>> {
  const source = await sourceOf(tag);
  const events = new Set(matches(source, /\bfire\(\s*this,\s*["'](sov-[\w-]+)["']/g));
  const stopped = new Set(matches(source, /@(sov-[\w-]+)=\$\{[^}]*\.stopPropagation\(\)/g));
  const inner = new Set(matches(source, /<(sov-[\w-]+)[\s>]/g).filter((child) => child !== tag));
  for (const child of inner) for (const event of await eventsLeaving(child)) if (!stopped.has(event)) events.add(event);
  return events;
}

/** Parts a page can style with ::part(): those in the element's own templates and those it exports from inner elements. */
async function partsOf(tag: string): Promise<Set<string>> {
  const source = await sourceOf(tag);
  const own = matches(source, /\bpart="([\w\s-]+)"/g).flatMap((names) => names.split(/\s+/));
  const exported = matches(source, /\bexportparts="([^"]*)"/g).flatMap((list) =>
    list.split(',').map((entry) => entry.split(':').at(-1)!.trim()),
  );
  return new Set([...own, ...exported]);
}

function cssTextOf(tag: string): string {
  const element = customElements.get(tag) as unknown as typeof LitElement;
  return element.elementStyles
    .map((style) => ('cssText' in style ? style.cssText : [...style.cssRules].map((rule) => rule.cssText).join('\n')))
    .join('\n');
}

function names(entries: Described[] | undefined): string[] {
  return (entries ?? []).map((entry) => entry.name).sort();
}

describe('custom-elements.json', () => {
  before(async () => {
    await Promise.all([loadChatScreen(), loadLogin(), loadProfile()]);
    const response = await fetch('/custom-elements.json');
    expect(response.ok, 'custom-elements.json at the repository root: run node scripts/build.mjs').to.equal(true);
    manifest = (await response.json()) as Manifest;
  });

  it('lists exactly the elements the components define', () => {
    const listed = manifest.modules
      .flatMap((module) => module.declarations ?? [])
      .filter((declaration) => declaration.customElement && declaration.tagName);
    expect(listed.map((declaration) => declaration.tagName).sort()).to.deep.equal([...ELEMENTS].sort());
    for (const tag of ELEMENTS) expect(customElements.get(tag), tag).to.not.equal(undefined);
  });

  for (const tag of ELEMENTS) {
    describe(`<${tag}>`, () => {
      it('lists every attribute the element observes, and observes every attribute it lists for a property', () => {
        const { declaration } = declarationOf(tag);
        const observed = [
          ...((customElements.get(tag) as unknown as typeof LitElement).observedAttributes ?? []),
        ].sort();
        expect(observed, 'observedAttributes').to.not.be.empty;
        expect(names(declaration.attributes)).to.include.members(observed);
        const fromProperties = (declaration.attributes ?? [])
          .filter((attribute) => attribute.fieldName)
          .map((attribute) => attribute.name);
        expect(observed).to.include.members(fromProperties);
      });

      it('lists exactly the sov-* events that leave the element', async () => {
        const { declaration } = declarationOf(tag);
        expect(names(declaration.events)).to.deep.equal([...(await eventsLeaving(tag))].sort());
      });

      it('lists exactly the parts the element renders or exports', async () => {
        const { declaration } = declarationOf(tag);
        expect(names(declaration.cssParts)).to.deep.equal([...(await partsOf(tag))].sort());
      });

      it('lists every --sov-* custom property its styles read, with the default they fall back to', () => {
        const { declaration } = declarationOf(tag);
        const css = cssTextOf(tag);
        const read = new Set(matches(css, /var\((--sov-[\w-]+)/g));
        expect(read.size, 'custom properties read').to.be.greaterThan(0);
        expect(names(declaration.cssProperties)).to.include.members([...read]);
        for (const property of declaration.cssProperties ?? []) {
          if (!read.has(property.name) || property.default === undefined) continue;
          const fallbacks = matches(css, new RegExp(`var\\(${property.name},\\s*([^)]+)\\)`, 'g')).map((fallback) =>
            fallback.trim(),
          );
          expect(fallbacks, `${property.name}'s default`).to.include(property.default);
        }
      });

      it('describes each of its attributes, events, parts and custom properties', () => {
        const { declaration } = declarationOf(tag);
        const entries = [
          ...(declaration.attributes ?? []),
          ...(declaration.events ?? []),
          ...(declaration.cssParts ?? []),
          ...(declaration.cssProperties ?? []),
        ];
        for (const entry of entries) expect(entry.description?.trim(), entry.name).to.not.be.oneOf([undefined, '']);
      });
    });
  }
});
