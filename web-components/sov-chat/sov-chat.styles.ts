/**
 * The styles of <sov-chat>'s shell: the shared theme, the starting and sign-in screens, the state
 * line. The chat screen's come with its chunk (./chat-screen.styles.ts).
 */
import { css } from 'lit';
import { themeStyles } from '../shared/theme.styles.ts';

export const chatStyles = [
  themeStyles,
  css`
    :host {
      display: flex;
      flex-direction: column;
      height: 100%;
      min-height: 24rem;
      background: var(--_bg);
      border: 1px solid var(--_border);
      border-radius: var(--_radius);
      overflow: hidden;
      container-type: inline-size;
    }
    .state {
      width: 100%;
      order: 10;
      margin: 0;
      font-size: 0.85em;
      color: var(--_muted);
    }
    .center {
      margin: auto;
      padding: 1rem;
      width: 100%;
      color: var(--_muted);
      text-align: center;
    }
    .login {
      margin: auto;
      padding: 1rem;
      width: 100%;
      overflow-y: auto;
    }
  `,
];
