/**
 * What every Sovereign Chat component shares: the SovClient it works with (set as a property, or
 * handed down by <sov-chat>), the language, and `sov-*` events that bubble out of shadow DOM.
 */
import { LitElement } from 'lit';
import { property } from 'lit/decorators.js';
import { hasTable, isMessageKey, langOf, loadTable, onTranslation, translate } from './i18n.ts';
import type { Lang, MessageKey } from './i18n.ts';
import { SovError } from '../../sdk/index.ts';
import type { SovClient } from '../../sdk/index.ts';

export class SovElement extends LitElement {
  /** The SDK client this component talks through. */
  @property({ attribute: false }) client: SovClient | null = null;

  /** UI language ("en", "ru", or one added with registerTranslation); defaults to the nearest `lang` attribute or the page's language. */
  @property({ reflect: true }) override lang = '';

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

  /** Fires `sov-<name>` that the host page can listen to (bubbles, crosses shadow roots). */
  protected fire<T>(name: string, detail: T): void {
    this.dispatchEvent(new CustomEvent(`sov-${name}`, { detail, bubbles: true, composed: true }));
  }
}
