import { LitElement } from 'lit';
import type { PropertyDeclarations } from 'lit';
import { hasTable, isMessageKey, langOf, loadTable, onTranslation, translate } from './i18n.ts';
import type { Lang, MessageKey } from './i18n.ts';
import { SovError } from '../../sdk/index.ts';
import type { SovClient } from '../../sdk/index.ts';

/**
 * What every Sovereign Chat component shares: the SovClient it works with (set as a property, or
 * handed down by <sov-chat>), the language and the theme. The theme's custom properties inherit
 * through shadow roots, so they may be set on the element or any ancestor; the defaults below are
 * the light theme's (shared/theme.styles.ts), the dark theme has its own.
 *
 * @attr theme - "light" or "dark"; without it, the system's (prefers-color-scheme)
 * @cssprop [--sov-bg=#ffffff] - background of the chat, its forms and inputs
 * @cssprop [--sov-surface=#f3f4f6] - background of the top bar, buttons and other people's messages
 * @cssprop [--sov-fg=#111827] - text
 * @cssprop [--sov-muted=#4b5563] - secondary text: times, usernames, notices
 * @cssprop [--sov-border=#d1d5db] - borders around the chat and between its parts
 * @cssprop [--sov-field-border=#6b7280] - borders of inputs and buttons
 * @cssprop [--sov-accent=#1d4ed8] - main buttons, links, the focus ring
 * @cssprop [--sov-accent-fg=#ffffff] - text on the accent colour
 * @cssprop [--sov-danger=#b91c1c] - errors and warnings
 * @cssprop [--sov-mine-bg=#dbeafe] - background of your own messages
 * @cssprop [--sov-radius=10px] - corner radius of buttons, inputs and bubbles
 * @cssprop --sov-font - font family (default the system's UI font)
 */
export class SovElement extends LitElement {
  // Not decorators: this class and <sov-chat>'s shell are in the initial download, which then does
  // without Lit's decorator code (the other elements, which load later, use decorators).
  static override properties: PropertyDeclarations = {
    client: { attribute: false },
    lang: { reflect: true },
  };

  /** The SDK client this component talks through. */
  client: SovClient | null = null;

  /** UI language ("en", "ru", or one added with registerTranslation); defaults to the nearest `lang` attribute or the page's language. */
  override lang = '';

  private stopWatchingWords: (() => void) | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    // A language registered (or words changed) while the element is on the page shows at once.
    this.stopWatchingWords = onTranslation(() => this.requestUpdate());
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stopWatchingWords?.();
    this.stopWatchingWords = null;
  }

  protected get language(): Lang {
    return this.lang ? langOf(this) : langOf(this.parentElement ?? this);
  }

  /** Waits for the language's table before rendering, so nobody sees English flash before Russian. */
  protected override async scheduleUpdate(): Promise<void> {
    const lang = this.language;
    if (!hasTable(lang)) await loadTable(lang);
    super.scheduleUpdate();
  }

  protected t(key: MessageKey, params?: Record<string, string | number>): string {
    return translate(this.language, key, params);
  }

  /** Plain words for an error, in the UI language; the code stays machine-readable in events. */
  protected errorText(error: unknown, params: Record<string, string | number> = {}): string {
    if (error instanceof SovError) {
      const key = `error.${error.code}`;
      const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
      if (isMessageKey(key)) return this.t(key, { seconds, ...params });
      return this.t('error.generic', { message: error.message });
    }
    return this.t('error.generic', { message: String(error) });
  }
}
