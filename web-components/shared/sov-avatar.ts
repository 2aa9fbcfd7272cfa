import { LitElement, css, html } from 'lit';
import { customElement } from 'lit/decorators/custom-element.js';
import { property } from 'lit/decorators/property.js';
import { AVATAR_LIGHTNESS } from './theme.styles.ts';

/**
 * A round avatar: the user's picture, or their initials on a colour derived from their id when
 * there is none. Decorative by default (the name is always written next to it).
 *
 * @csspart image - the picture or the initials
 * @cssprop [--sov-avatar-size=2.25rem] - diameter
 */
@customElement('sov-avatar')
export class SovAvatar extends LitElement {
  static override styles = css`
    :host {
      display: inline-block;
      width: var(--sov-avatar-size, 2.25rem);
      height: var(--sov-avatar-size, 2.25rem);
      flex: none;
    }
    img,
    span {
      width: 100%;
      height: 100%;
      border-radius: 50%;
      display: grid;
      place-items: center;
      object-fit: cover;
      font-size: calc(var(--sov-avatar-size, 2.25rem) * 0.4);
      font-weight: 600;
      color: #fff;
      user-select: none;
    }
  `;

  /** Absolute URL of the picture, or empty for initials. */
  @property() src = '';
  /** The name the initials come from. */
  @property() name = '';
  /** Seeds the initials' background colour so each user keeps theirs. */
  @property({ type: Number }) seed = 0;

  override render() {
    if (this.src) return html`<img part="image" src=${this.src} alt="" referrerpolicy="no-referrer" />`;
    const initials = [...this.name.trim()].slice(0, 1).join('').toUpperCase() || '?';
    return html`<span part="image" aria-hidden="true">${initials}</span>`;
  }

  protected override updated(): void {
    // Through CSSOM, which a strict Content-Security-Policy allows; a style="" attribute (what
    // Lit's styleMap writes on first render) it blocks. Dark enough that white initials pass AA.
    const hue = (this.seed * 137) % 360;
    this.renderRoot.querySelector('span')?.style.setProperty('background', `hsl(${hue} 55% ${AVATAR_LIGHTNESS}%)`);
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sov-avatar': SovAvatar;
  }
}
