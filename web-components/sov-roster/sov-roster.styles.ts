/** The styles of <sov-roster>: the shared theme, then its own. */
import { css } from 'lit';
import { themeStyles } from '../shared/theme.styles.ts';

export const rosterStyles = [
  themeStyles,
  css`
    :host {
      display: block;
      overflow-y: auto;
      background: var(--_bg);
    }
    h2 {
      font-size: 0.95rem;
      margin: 0;
      padding: 0.75rem 0.75rem 0.25rem;
    }
    .count {
      padding: 0 0.75rem 0.5rem;
      margin: 0;
      color: var(--_muted);
      font-size: 0.85em;
    }
    ul {
      list-style: none;
      margin: 0;
      padding: 0 0.5rem 0.75rem;
    }
    li {
      display: flex;
      align-items: center;
      gap: 0.5rem;
      padding: 0.3rem 0.25rem;
      --sov-avatar-size: 1.75rem;
    }
    .name {
      overflow: hidden;
      text-overflow: ellipsis;
      white-space: nowrap;
    }
    .username {
      color: var(--_muted);
      font-size: 0.85em;
    }
  `,
];
