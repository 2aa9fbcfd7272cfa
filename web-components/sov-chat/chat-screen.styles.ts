/** The styles of <sov-chat>'s chat screen (./chat-screen.ts): the top bar, the room and roster side by side, the profile dialog. */
import { css } from 'lit';

export const chatScreenStyles = css`
  header {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 0.5rem;
    padding: 0.5rem 0.75rem;
    background: var(--_surface);
    border-bottom: 1px solid var(--_border);
  }
  .me {
    display: flex;
    align-items: center;
    gap: 0.5rem;
    border: none;
    background: none;
    padding: 0.2rem 0.4rem;
    font-weight: 600;
    min-width: 0;
    --sov-avatar-size: 2rem;
  }
  .me span {
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
    max-width: 12rem;
  }
  .room-form {
    display: flex;
    align-items: center;
    gap: 0.35rem;
    margin-left: auto;
  }
  .room-form input {
    width: 9rem;
    padding: 0.35em 0.6em;
  }
  main {
    flex: 1;
    min-height: 0;
    display: flex;
  }
  sov-chat-room {
    flex: 1;
    min-width: 0;
  }
  sov-roster {
    width: 14rem;
    border-left: 1px solid var(--_border);
  }
  .roster-toggle {
    display: none;
  }
  dialog {
    padding: 0;
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    background: var(--_bg);
    color: var(--_fg);
    width: min(28rem, calc(100vw - 2rem));
    max-height: calc(100vh - 2rem);
  }
  dialog::backdrop {
    background: rgb(0 0 0 / 0.45);
  }
  @container (max-width: 40rem) {
    .roster-toggle {
      display: inline-block;
    }
    sov-roster {
      display: none;
    }
    main.show-roster sov-roster {
      display: block;
      width: 100%;
      border-left: none;
    }
    main.show-roster sov-chat-room {
      display: none;
    }
    .me {
      flex: 1;
    }
    .room-form {
      order: 5;
      width: 100%;
      margin-left: 0;
    }
    .room-form input {
      flex: 1;
      width: auto;
      min-width: 0;
    }
  }
`;
