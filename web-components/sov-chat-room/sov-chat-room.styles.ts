/** The styles of <sov-chat-room>: the shared theme, then its own. */
import { css } from 'lit';
import { themeStyles } from '../shared/theme.styles.ts';

export const chatRoomStyles = [
  themeStyles,
  css`
    :host {
      display: block;
      min-height: 0;
      height: 100%;
      background: var(--_bg);
    }
    .frame {
      display: flex;
      flex-direction: column;
      height: 100%;
      position: relative;
    }
    .list {
      flex: 1;
      min-height: 0;
      overflow-y: auto;
      overscroll-behavior: contain;
      position: relative;
    }
    .spacer {
      position: relative;
    }
    ol {
      list-style: none;
      margin: 0;
      padding: 0 0.75rem;
      position: absolute;
      inset: 0 0 auto 0;
    }
    li {
      padding: 0.4rem 0;
    }
    .message {
      display: flex;
      gap: 0.6rem;
      align-items: flex-start;
    }
    .message.unverified .bubble {
      border-left: 4px solid var(--_danger);
    }
    .bubble {
      min-width: 0;
      flex: 1;
      padding: 0.35rem 0.6rem;
      border-radius: var(--_radius);
      background: var(--_surface);
    }
    .mine .bubble {
      background: var(--_mine);
    }
    .meta {
      display: flex;
      flex-wrap: wrap;
      gap: 0.5rem;
      align-items: baseline;
      font-size: 0.85em;
      color: var(--_muted);
    }
    .author {
      font-weight: 600;
      color: var(--_fg);
    }
    .text {
      white-space: pre-wrap;
      overflow-wrap: anywhere;
      margin-top: 0.15rem;
    }
    .text a {
      color: var(--_accent);
      unicode-bidi: isolate;
      direction: ltr;
    }
    .warning,
    .failed {
      color: var(--_danger);
      font-size: 0.85em;
    }
    .notice {
      text-align: center;
      color: var(--_muted);
      font-size: 0.85em;
    }
    .empty {
      padding: 2rem 1rem;
      text-align: center;
      color: var(--_muted);
    }
    .retry {
      font-size: 0.85em;
      padding: 0.1em 0.6em;
      margin-left: 0.4em;
    }
    .older {
      position: absolute;
      top: 0.5rem;
      left: 50%;
      transform: translateX(-50%);
      margin: 0;
      background: var(--_bg);
      color: var(--_muted);
    }
    .jump {
      position: absolute;
      bottom: 4.5rem;
      left: 50%;
      transform: translateX(-50%);
      background: var(--_accent);
      color: var(--_accent-fg);
      border-color: var(--_accent);
      box-shadow: 0 2px 6px rgb(0 0 0 / 0.25);
    }
    form {
      display: flex;
      gap: 0.5rem;
      padding: 0.6rem 0.75rem;
      border-top: 1px solid var(--_border);
      align-items: flex-end;
    }
    textarea::placeholder {
      white-space: nowrap;
      overflow: hidden;
      text-overflow: ellipsis;
    }
    textarea {
      resize: none;
      max-height: 8rem;
      flex: 1;
    }
    .composer-error {
      padding: 0 0.75rem 0.4rem;
      margin: 0;
      font-size: 0.9em;
    }
  `,
];
