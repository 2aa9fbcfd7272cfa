/**
 * Finding things in web components the way a user (or a screen reader) does: by a label's text, a
 * button's name or the text shown, through shadow roots.
 */

/** Every element under `root`, through shadow roots. */
export function* deep(root: ParentNode): Generator<Element> {
  for (const element of root.querySelectorAll('*')) {
    yield element;
    if (element.shadowRoot) yield* deep(element.shadowRoot);
  }
}

export function all<T extends Element>(root: ParentNode, selector: string): T[] {
  return [...deep(root)].filter((element) => element.matches(selector)) as T[];
}

/** The input a <label> with this text names (the label's own text, before the input inside it). */
export function field(root: ParentNode, label: string): HTMLInputElement | HTMLTextAreaElement | null {
  for (const candidate of all<HTMLLabelElement>(root, 'label')) {
    const own = [...candidate.childNodes]
      .filter((node) => node.nodeType === Node.TEXT_NODE)
      .map((node) => node.textContent)
      .join('')
      .trim();
    if (own !== label) continue;
    return candidate.control as HTMLInputElement | HTMLTextAreaElement | null;
  }
  return null;
}

export function button(root: ParentNode, name: string): HTMLButtonElement | null {
  return (
    all<HTMLButtonElement>(root, 'button').find((candidate) =>
      (candidate.getAttribute('aria-label') ?? candidate.textContent ?? '').trim().includes(name),
    ) ?? null
  );
}

export function text(root: ParentNode): string {
  return all(root, '*')
    .flatMap((element) =>
      [...element.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE).map((node) => node.textContent ?? ''),
    )
    .join(' ')
    .replace(/\s+/g, ' ');
}

/** Types `value` into a field as far as the element can tell (an input event that crosses shadow roots). */
export function fill(input: HTMLInputElement | HTMLTextAreaElement | null, value: string): void {
  if (!input) throw new Error('no such field');
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
}
